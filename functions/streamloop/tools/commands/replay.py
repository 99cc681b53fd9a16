"""Send a dataset's events, and each label N events later, to a broker or to the embedded runner.

Events are records with ``id``, an entity ``key``, ``ts`` and the raw fields of the feature spec; labels
are ``{"id", "label"}`` records from ``--labels``, or a column of the events file (``--label-field``).
Files are JSON Lines or CSV. A progress bar with events/s goes to stderr and the final count to stdout.
Without ``--service-url`` the four functions run in this process on the embedded transport, and the
run's predictions, metrics and stage latencies are written to ``--out`` (read by ``streamloop report``).

Examples::

    streamloop dataset --events 8000 --out data                # a drifting stream to play with
    streamloop replay data/events.jsonl --labels data/labels.jsonl --label-delay 100 --out out/run
    streamloop replay history.csv --label-field fraud --rate 500 \\
        --service-url pulsar://127.0.0.1:6650 --namespace public/default
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable
from typing import Any

from streamloop.tools.commands import add_command, add_namespace
from streamloop.tools.connection import Connection, add_options
from streamloop.tools.records import read_records, write_jsonl


def register(sub: Any) -> None:
    parser = add_command(sub, "replay", "send events and delayed labels (broker or embedded)", __doc__)
    parser.add_argument("events", help="events file (.jsonl or .csv)")
    labels = parser.add_mutually_exclusive_group()
    labels.add_argument("--labels", help="labels file (.jsonl or .csv) of {id, label} records")
    labels.add_argument("--label-field", help="take each event's label from this field of the events file")
    parser.add_argument("--label-delay", type=int, default=0, help="send each label N events after its event")
    parser.add_argument("--rate", type=float, help="at most this many events per second (default: no limit)")
    parser.add_argument(
        "--service-url",
        help="a broker, e.g. pulsar://127.0.0.1:6650 or pulsar+ssl://host:6651 (default: embedded)",
    )
    add_namespace(parser)
    parser.add_argument("--config-dir", default="pulsar-config", help="the embedded runner's YAML files")
    parser.add_argument("--out", default="out/run", help="where the embedded runner writes its outputs")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_options(parser)
    parser.set_defaults(handler=run)


def pair_labels(
    events: list[dict[str, Any]], labels: list[dict[str, Any]] | None, label_field: str | None
) -> tuple[list[dict[str, Any] | None], list[dict[str, Any]]]:
    """One label (or ``None``) per event, and the labels whose event is not in the file.

    >>> events = [{"id": "e1", "fraud": True}, {"id": "e2"}]
    >>> pair_labels(events, None, "fraud")
    ([{'id': 'e1', 'label': True}, None], [])
    >>> events
    [{'id': 'e1'}, {'id': 'e2'}]
    >>> pair_labels(events, [{"id": "e2", "label": 0}, {"id": "e9", "label": 1}], None)
    ([None, {'id': 'e2', 'label': 0}], [{'id': 'e9', 'label': 1}])
    """
    if label_field:
        paired = []
        for event in events:
            value = event.pop(label_field, None)
            paired.append(None if value is None else {"id": event.get("id"), "label": value})
        return paired, []
    by_id = {str(label.get("id")): label for label in labels or []}
    paired = [by_id.pop(str(event.get("id")), None) for event in events]
    return paired, list(by_id.values())


def run(args: argparse.Namespace) -> int:
    events = read_records(args.events)
    labels, orphans = pair_labels(
        events, read_records(args.labels) if args.labels else None, args.label_field
    )
    labels += orphans  # labels of unknown events go last: the joiner counts them as expired
    if args.service_url:
        import pulsar

        connection = Connection.from_args(args)
        with connection.connected(logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Warn)) as client:
            target = f"{connection.service_url} ({args.namespace})"
            _send(args, client, events, labels, args.namespace, target)
        return 0
    from streamloop.runtime.runner import Runner

    runner = Runner.from_directory(args.config_dir)
    runner.start()  # on the embedded transport, the YAMLs' topics (public/default)
    _send(args, runner.client, events, labels, "public/default", "the embedded runner", runner.pump)
    return _write_embedded_outputs(runner, args.out)


def _send(
    args: argparse.Namespace,
    client: Any,
    events: list[dict[str, Any]],
    labels: list[dict[str, Any] | None],
    namespace: str,
    target: str,
    pump: Callable[[], Any] | None = None,
) -> None:
    """Replay the events and labels through ``client`` (``pump`` the embedded runner after each send)."""
    from streamloop.tools.replay import replay
    from streamloop.tools.runlog import topic
    from streamloop.tools.terminal import progress_bar

    bar = contextlib.nullcontext(None) if args.quiet else progress_bar("events")
    with bar as progress:
        task = progress.add_task("replay", total=len(events)) if progress is not None else None

        def sent(kind: str, record: dict[str, Any]) -> None:
            if pump is not None:
                pump()
            if progress is not None and kind == "e":
                progress.advance(task)

        started = time.monotonic()
        counts = replay(
            client,
            events,
            labels,
            label_delay=args.label_delay,
            events_topic=topic("events", namespace),
            labels_topic=topic("labels", namespace),
            rate=args.rate,
            on_sent=sent,
        )
    seconds = time.monotonic() - started
    print(
        f"replayed {counts['events']} events and {counts['labels']} labels to {target} in {seconds:.1f} s "
        f"({counts['events'] / max(seconds, 1e-9):,.0f} events/s)"
    )


def _write_embedded_outputs(runner: Any, out: str) -> int:
    """Drain the loop, write predictions, metrics and latencies to ``out`` and print the counts."""
    import orjson

    from streamloop.tools.runlog import collect, read_messages, topic

    runner.pump()
    predictions = [orjson.loads(m.data()) for m in read_messages(runner.client, topic("predictions"))]
    examples = read_messages(runner.client, topic("examples"))
    dead = read_messages(runner.client, topic("dead-letters"))
    run_log = collect(runner.client)
    runner.stop()
    paths = [*run_log.save(out)]
    write_jsonl(f"{out}/predictions.jsonl", predictions)
    print(
        f"→ {len(predictions)} predictions, {len(examples)} examples, {len(dead)} dead letters, "
        f"{len(run_log.metrics)} metrics records; wrote {out}/predictions.jsonl, "
        + ", ".join(str(p) for p in paths)
    )
    return 0
