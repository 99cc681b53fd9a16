"""``streamloop rebuild`` with a changed feature spec, then ``streamloop train`` on the set, then the scorer:
it serves the model for features of the new spec and refuses it for features of the old one."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml
from cli_run import CONFIG_DIR

from streamloop.runtime.memory import MemoryClient
from streamloop.runtime.testing import FunctionHarness
from streamloop.tools import cli
from streamloop.tools.connection import Connection
from streamloop.tools.demo import drifting_stream
from streamloop.tools.history import load_features_config
from streamloop.tools.replay import replay
from streamloop.worker.config import topic
from streamloop.worker.messages import read_example
from streamloop.worker.modelsigning import SIGNATURE_PROPERTY, sign
from streamloop.worker.scorer import OnnxModel, ScorerFunction
from streamloop.worker.secretkeys import MODEL_SIGNING_KEY

OLD_SPEC = CONFIG_DIR / "features.yaml"
NEW_FEATURE = {"name": "x1_std_1h", "kind": "window", "agg": "std", "field": "x1", "window": 3600}
EVENTS, FEATURES, PREDICTIONS, MODELS, METRICS = map(
    topic, ("events", "features", "predictions", "models", "metrics")
)


@pytest.fixture
def new_spec(tmp_path: Path) -> Path:
    """The loop's features.yaml with one more window feature."""
    config = yaml.safe_load(OLD_SPEC.read_text())
    config["userConfig"]["features"].append(NEW_FEATURE)
    path = tmp_path / "features-v2.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def history(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> MemoryClient:
    """The loop's events and labels topics after a replay of 800 events (plus a bad one, an unlabelled
    one and a label of no event), served to the command as its broker."""
    pairs = list(drifting_stream(800, drift_at=10_000))
    events = [event for event, _ in pairs] + [{"id": "bad", "key": "user-01", "ts": 1.0, "x0": 0.5}]  # no x1
    labels = [label for _, label in pairs[:-1]] + [{"id": "nowhere", "label": True}]
    client = MemoryClient()
    replay(client, events, labels, label_delay=50)
    monkeypatch.setattr(Connection, "pulsar_client", lambda self, **options: client)
    monkeypatch.setenv("STREAMLOOP_KEY_DIR", str(tmp_path / "keys"))  # train signs: keys off ~/.config
    return client


def features_of(spec: Path, n: int) -> list[dict]:
    """What the features function of ``spec`` publishes for the first ``n`` demo events."""
    harness = FunctionHarness.from_yaml(spec)
    for event, _ in drifting_stream(n, drift_at=10_000, seed=9):
        harness.send(event, topic=EVENTS, key=event["key"])
    return harness.records(FEATURES)


def scorer_serving(payload: bytes, first: dict | None) -> FunctionHarness:
    """A scorer that saw ``first`` (if any), then got the model on ``models``."""
    scorer = FunctionHarness(ScorerFunction, inputs=[FEATURES], output=PREDICTIONS, name="scorer")
    if first is not None:
        scorer.send(first)
    signature = sign(scorer.secret(MODEL_SIGNING_KEY).encode(), "default", payload)
    properties = {SIGNATURE_PROPERTY: signature}
    scorer.client.create_producer(MODELS).send(payload, partition_key="default", properties=properties)
    scorer.client.run_callbacks()
    return scorer


def test_rebuild_then_train_gives_a_model_of_the_new_spec_that_the_scorer_serves_only_for_it(
    history, new_spec, tmp_path, capsys
):
    out = tmp_path / "set.jsonl"
    assert cli.main(["rebuild", "--features-config", str(new_spec), "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "read 801 events (1 malformed, skipped) and 800 labels: 799 labelled examples, 1 unlabelled " in (
        printed.out
    )
    assert "1 labels without an event" in printed.out
    assert "x1: missing" in printed.err  # the bad event's reason, as its dead letter would say

    model_path = tmp_path / "model.onnx"
    assert cli.main(["train", str(out), "--version", "rebuilt-1", "--out", str(model_path)]) == 0
    assert "trained on 799 rows, 8 features" in capsys.readouterr().out
    payload = model_path.read_bytes()
    model = OnnxModel.load(payload, "default", max_bytes=10**7)
    # train orders the columns of joined examples by name; the scorer reads each by its name
    assert sorted(model.feature_names) == sorted(load_features_config(new_spec).feature_names)
    assert "x1_std_1h" in model.feature_names and model.label == "default:rebuilt-1"

    new, old = features_of(new_spec, 5), features_of(OLD_SPEC, 5)
    assert sorted(new[0]["x"]) == sorted(model.feature_names)

    served = scorer_serving(payload, new[0])
    for record in new[1:]:
        served.send(record)
    assert [p["model"] for p in served.records(PREDICTIONS)] == [None] + ["default:rebuilt-1"] * 4

    # Old-spec features as the probe: the model is rejected (reported on metrics), nothing is served.
    refused = scorer_serving(payload, old[0])
    refused.send(old[1])
    (rejection,) = [r for r in refused.records(METRICS) if r["event"] == "rejection"]
    assert "x1_std_1h" in rejection["reason"] and rejection["serving"] is None, rejection
    assert [p["model"] for p in refused.records(PREDICTIONS)] == [None, None]

    # Loaded before any features came (no probe): each old-spec record is dead-lettered for the missing one.
    fresh = scorer_serving(payload, None)
    fresh.send(old[0])
    assert not fresh.records(PREDICTIONS)
    (dead,) = fresh.dead_letters
    assert dead.properties["error"] == "x.x1_std_1h: missing, and model default:rebuilt-1 needs it"


def test_rebuild_to_a_topic_keyed_by_event_id(history, new_spec, capsys):
    assert cli.main(["rebuild", "--features-config", str(new_spec), "--to-topic", "examples-v2"]) == 0
    assert "to persistent://public/default/examples-v2" in capsys.readouterr().out
    messages = history.messages(topic("examples-v2"))
    assert len(messages) == 799
    first = read_example(messages[0].data())
    assert messages[0].partition_key() == first["id"] == "e0000000"
    assert list(first["x"])[-1] == "x1_std_1h" and first["model"] is None


def test_an_invalid_spec_names_the_file_and_key(history, tmp_path, capsys):
    config = yaml.safe_load(OLD_SPEC.read_text())
    config["userConfig"]["features"].append({"name": "n", "kind": "window", "agg": "median", "window": 60})
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    assert cli.main(["rebuild", "--features-config", str(bad), "--out", str(tmp_path / "x.jsonl")]) == 2
    assert f"{bad}: userConfig.features[5]" in capsys.readouterr().err
    assert not (tmp_path / "x.jsonl").exists()


def test_the_set_has_the_examples_shape(history, new_spec, tmp_path):
    out = tmp_path / "set.jsonl"
    assert cli.main(["rebuild", "--features-config", str(new_spec), "--out", str(out), "--quiet"]) == 0
    records = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert set(records[0]) == {"id", "ts", "x", "y", "y_pred", "proba", "model"}
    assert [r["id"] for r in records[:3]] == ["e0000000", "e0000001", "e0000002"]
