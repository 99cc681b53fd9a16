"""Offline bootstrap: fit scikit-learn on a history file, convert it to the ONNX model contract, and
publish it to the ``models`` topic (or write it to a file).

The history is raw events with labels (``--labels`` or ``--label-field``), turned into features by the
same spec and code as the ``features`` function (``--features-config``), point in time (each event sees
only its key's events at or before its own time), or joined examples (``{"x", "y"}`` records, e.g. a dump
of the ``examples`` topic or a set written by ``streamloop rebuild``). The model is
``StandardScaler | LogisticRegression`` (or ``LinearRegression`` for ``--task regression``), checked with
the scorer's own validation before it leaves this command, so the scorers serve it as soon as it lands on
``models``.

The model is signed like the learner's, with the ``model_signing_key`` of ``--namespace`` from
``--key-dir`` (the key ``streamloop deploy`` gave that namespace's scorers; generated there if there is
none yet): published, the signature is the message's ``streamloop-signature`` property; with ``--out``,
it is written beside the model as ``<out>.sig``, for whoever publishes the file (as that property).

Examples::

    streamloop train data/events.jsonl --labels data/labels.jsonl --out out/model.onnx
    streamloop train history.csv --label-field fraud --version boot-1 \\
        --service-url pulsar://127.0.0.1:6650 --namespace public/default
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from streamloop.tools.commands import add_command, add_namespace
from streamloop.tools.connection import Connection, add_options


def register(sub: Any) -> None:
    parser = add_command(sub, "train", "fit a first model offline: scikit-learn → ONNX → models", __doc__)
    parser.add_argument(
        "history", help="events (.jsonl/.csv) with labels, or joined examples ({x, y} records)"
    )
    labels = parser.add_mutually_exclusive_group()
    labels.add_argument("--labels", help="labels file of {id, label} records")
    labels.add_argument("--label-field", help="take each event's label from this field")
    parser.add_argument(
        "--features-config", default="pulsar-config/features.yaml", help="the features function's YAML"
    )
    parser.add_argument("--task", choices=("classification", "regression"), default="classification")
    parser.add_argument(
        "--model-name", default="default", help="the model's key on models (default: default)"
    )
    parser.add_argument("--version", default="boot-1", help="the model version (default: boot-1)")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", help="write the ONNX model to this file")
    target.add_argument("--service-url", help="publish to the models topic of this broker")
    add_namespace(parser)
    parser.add_argument(
        "--key-dir",
        help="where the namespace's model_signing_key is kept, as for deploy "
        "(default: $STREAMLOOP_KEY_DIR, else ~/.config/streamloop/keys)",
    )
    add_options(parser)
    parser.set_defaults(handler=run)


def _rows(args: argparse.Namespace) -> tuple[list[Any], list[str] | None]:
    from streamloop.tools.commands.replay import pair_labels
    from streamloop.tools.history import example_rows, featurize, load_features_config
    from streamloop.tools.records import read_records

    records = read_records(args.history)
    if records and "x" in records[0] and not (args.labels or args.label_field):
        return example_rows(records), None
    if not (args.labels or args.label_field):
        raise SystemExit("train: raw events need --labels or --label-field (or give joined {x, y} examples)")
    labels, _ = pair_labels(records, read_records(args.labels) if args.labels else None, args.label_field)
    values = [None if label is None else label["label"] for label in labels]
    return featurize(records, values, load_features_config(args.features_config))


def _signature(args: argparse.Namespace, payload: bytes) -> str:
    """``payload`` signed with ``--namespace``'s model signing key, saying which key that is."""
    from streamloop.runtime.keys import KeyStore, default_key_dir
    from streamloop.worker.modelsigning import key_id, sign
    from streamloop.worker.secretkeys import MODEL_SIGNING_KEY

    stored = KeyStore(args.key_dir or default_key_dir()).key(args.namespace, MODEL_SIGNING_KEY)
    key = stored.value.encode()
    origin = "generated" if stored.created else "reused"
    print(f"signed with {args.namespace}'s {MODEL_SIGNING_KEY} (key {key_id(key)}, {origin}: {stored.path})")
    return sign(key, args.model_name, payload)


def run(args: argparse.Namespace) -> int:
    import onnxruntime  # noqa: F401  (fails early with a clear import error)

    from streamloop.tools.bootstrap import train_onnx
    from streamloop.worker.modelcontract import read_properties
    from streamloop.worker.modelsigning import SIGNATURE_PROPERTY
    from streamloop.worker.scorer import OnnxModel

    rows, names = _rows(args)
    if not rows:
        raise SystemExit(f"train: no labelled rows in {args.history}")
    payload = train_onnx(rows, version=args.version, task=args.task, feature_names=names)
    model = OnnxModel.load(payload, args.model_name, max_bytes=64 * 1024 * 1024, probe=rows[0][0])
    hits = sum(model.predict(x).y_pred == y for x, y in rows) if args.task == "classification" else None
    fit = f", training accuracy {hits / len(rows):.3f}" if hits is not None else ""
    print(
        f"trained on {len(rows)} rows, {len(model.feature_names)} features "
        f"({', '.join(model.feature_names)}){fit}"
    )
    signature = _signature(args, payload)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(payload)
        out.with_name(out.name + ".sig").write_text(signature + "\n")
        print(f"wrote model {model.label} ({len(payload)} bytes) to {out}, its signature to {out}.sig")
        return 0
    import pulsar

    from streamloop.tools.runlog import topic

    models = topic("models", args.namespace)
    connection = Connection.from_args(args)
    with connection.connected(logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Warn)) as client:
        producer = client.create_producer(models)
        properties = {**read_properties(payload), SIGNATURE_PROPERTY: signature}
        message_id = producer.send(payload, partition_key=args.model_name, properties=properties)
    print(f"published model {model.label} ({len(payload)} bytes) to {models} as message {message_id}")
    return 0
