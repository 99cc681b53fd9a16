"""``streamloop train``: a history in, an ONNX model the scorer accepts out, in the loop's feature space."""

from __future__ import annotations

import orjson
from cli_run import CONFIG_DIR, ok, streamloop

from streamloop.runtime.keys import KeyStore
from streamloop.worker.modelsigning import verify
from streamloop.worker.scorer import OnnxModel
from streamloop.worker.secretkeys import MODEL_SIGNING_KEY

FEATURES_YAML = CONFIG_DIR / "features.yaml"


def test_train_on_raw_events_gives_the_loops_features(tmp_path):
    ok(streamloop("dataset", "--events", 1500, "--drift-at", 5000, "--out", "data", cwd=tmp_path))
    result = ok(
        streamloop(
            "train",
            "data/events.jsonl",
            "--labels",
            "data/labels.jsonl",
            "--features-config",
            FEATURES_YAML,
            "--version",
            "boot-7",
            "--out",
            "out/model.onnx",
            "--key-dir",
            "keys",
            cwd=tmp_path,
        )
    )
    assert "trained on 1500 rows, 7 features" in result.stdout
    accuracy = float(result.stdout.split("training accuracy ")[1].split()[0])
    assert accuracy > 0.8  # no drift in this history: the Sine concept is learnable
    assert "wrote model default:boot-7" in result.stdout
    payload = (tmp_path / "out/model.onnx").read_bytes()
    model = OnnxModel.load(payload, "default", max_bytes=10**7)
    # Signed with the namespace's model signing key, the one `streamloop deploy` gives its scorers.
    key = KeyStore(tmp_path / "keys").key("public/default", MODEL_SIGNING_KEY)
    assert not key.created and "signed with public/default's model_signing_key" in result.stdout
    verify(key.value.encode(), "default", payload, (tmp_path / "out/model.onnx.sig").read_text().strip())
    assert model.label == "default:boot-7" and model.classes == (False, True)

    # The same events through the loop's features function give exactly the model's columns.
    ok(
        streamloop(
            "replay", "data/events.jsonl", "--quiet", "--config-dir", CONFIG_DIR, "--out", "run", cwd=tmp_path
        )
    )
    first = orjson.loads((tmp_path / "run/predictions.jsonl").read_bytes().splitlines()[0])
    assert tuple(first["x"]) == model.feature_names


def test_train_on_joined_examples_and_csv(tmp_path):
    ok(
        streamloop(
            "dataset", "--events", 600, "--drift-at", 5000, "--format", "csv", "--out", "data", cwd=tmp_path
        )
    )
    examples = [
        {"id": f"e{i}", "x": {"a": float(i % 10), "b": float(i % 3)}, "y": i % 10 > 4, "model": None}
        for i in range(400)
    ]
    (tmp_path / "examples.jsonl").write_bytes(b"\n".join(orjson.dumps(e) for e in examples))
    result = ok(
        streamloop("train", "examples.jsonl", "--out", "examples.onnx", "--key-dir", "keys", cwd=tmp_path)
    )
    assert "trained on 400 rows, 2 features (a, b), training accuracy 1.000" in result.stdout
    csv = ok(
        streamloop(
            "train",
            "data/events.csv",
            "--label-field",
            "label",
            "--features-config",
            FEATURES_YAML,
            "--out",
            "csv.onnx",
            "--key-dir",
            "keys",
            cwd=tmp_path,
        )
    )
    assert "trained on 600 rows, 7 features" in csv.stdout


def test_train_needs_labels_for_raw_events(tmp_path):
    ok(streamloop("dataset", "--events", 20, "--out", "data", cwd=tmp_path))
    result = streamloop("train", "data/events.jsonl", "--out", "m.onnx", cwd=tmp_path)
    assert result.returncode != 0 and "raw events need --labels or --label-field" in result.stderr
