"""Each producer/consumer pair of the loop: what one stage writes, the next one reads.

The stages run from the deployed YAMLs (``pulsar-config/``) on the in-memory harness, one at a time: each
test hands a producer's messages (payload, key and properties, as published) to its consumer and checks
the consumer read every one — nothing dead-lettered, every record carried on — and that the fields the
design fixes (DESIGN.md, "Message contracts") arrive as written.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from onnx_models import linear_classifier

from streamloop.runtime.keys import KeyStore
from streamloop.runtime.memory import MemoryClient
from streamloop.runtime.testing import FunctionHarness, Output
from streamloop.tools.bootstrap import train_onnx
from streamloop.tools.demo import drifting_stream
from streamloop.tools.replay import replay
from streamloop.tools.report.summary import summarize
from streamloop.tools.runlog import RunLog, collect
from streamloop.worker.config import topic
from streamloop.worker.messages import read_dead_letter
from streamloop.worker.modelcontract import ModelMetadata, read_properties
from streamloop.worker.modelsigning import SIGNATURE_PROPERTY, sign
from streamloop.worker.secretkeys import MODEL_SIGNING_KEY

CONFIG = Path(__file__).resolve().parents[1] / "pulsar-config"
EVENTS, LABELS, FEATURES, PREDICTIONS, EXAMPLES, MODELS, METRICS = (
    topic(name) for name in ("events", "labels", "features", "predictions", "examples", "models", "metrics")
)
N = 400
UNLABELLED = {f"e{i:07d}" for i in range(0, N - 100, 40)}  # their predictions expire in the joiner
KEYS = KeyStore()  # one namespace's keys: the learner signs models with the key the scorers verify


def function_of(name: str, **user_config: object) -> FunctionHarness:
    """The function of ``pulsar-config/<name>.yaml`` with ``user_config`` overrides, keyed by :data:`KEYS`."""
    return FunctionHarness.from_yaml(CONFIG / f"{name}.yaml", user_config=user_config, keys=KEYS)


def signed(payload: bytes) -> Output:
    """``payload`` as ``streamloop train`` publishes it: signed with the namespace's key."""
    key = KEYS.key("public/default", MODEL_SIGNING_KEY).value.encode()
    return Output(
        payload, "default", {**read_properties(payload), SIGNATURE_PROPERTY: sign(key, "default", payload)}
    )


def hand_over(outputs: list[Output], consumer: FunctionHarness, input_topic: str) -> None:
    for output in outputs:
        consumer.send(output.payload, topic=input_topic, key=output.key, properties=output.properties)


def publish_model(scorer: FunctionHarness, model: Output) -> None:
    producer = scorer.client.create_producer(MODELS)
    producer.send(model.payload, partition_key=model.key, properties=model.properties)
    scorer.client.run_callbacks()


class Loop:
    """Every stage's harness, fed in order: replay → features → scorer → joiner → learner."""

    def __init__(self) -> None:
        pairs = list(drifting_stream(N, drift_at=N // 2))
        self.events = [event for event, _ in pairs]
        self.labels = [None if event["id"] in UNLABELLED else label for event, label in pairs]
        source, self.order = MemoryClient(), []  # "e"/"l" per message sent
        replay(source, self.events, self.labels, label_delay=5, on_sent=lambda k, _: self.order.append(k))
        self.replayed = {
            name: [Output(m.data(), m.partition_key(), m.properties()) for m in source.messages(name)]
            for name in (EVENTS, LABELS)
        }
        self.features = function_of("features")
        hand_over(self.replayed[EVENTS], self.features, EVENTS)
        self.scorer = function_of("scorer")
        hand_over(self.features.messages(FEATURES), self.scorer, FEATURES)
        self.joiner = function_of("joiner", ttl_seconds=60.0)
        # in the order replay sent them: each label five events after its event
        predictions, labels = iter(self.scorer.messages(PREDICTIONS)), iter(self.replayed[LABELS])
        for kind in self.order:
            output, name = (next(predictions), PREDICTIONS) if kind == "e" else (next(labels), LABELS)
            hand_over([output], self.joiner, name)
        small = {"min_samples": 30, "every_n": 100, "window": 100}
        self.learner = function_of("learner", promotion=small, metrics_every=50, checkpoint_every=20)
        hand_over(self.joiner.messages(EXAMPLES), self.learner, EXAMPLES)


@pytest.fixture(scope="module")
def loop() -> Loop:
    return Loop()


def test_features_reads_the_events_replay_writes(loop: Loop) -> None:
    assert loop.features.dead_letters == [] and loop.features.unacked == []
    out = loop.features.records(FEATURES)
    assert [(r["id"], r["key"], r["ts"]) for r in out] == [(e["id"], e["key"], e["ts"]) for e in loop.events]
    assert out[0]["x"]["x0"] == loop.events[0]["x0"]
    assert [m.key for m in loop.features.messages(FEATURES)] == [e["key"] for e in loop.events]


def test_the_scorer_reads_the_features_records(loop: Loop) -> None:
    assert loop.scorer.dead_letters == []
    features, predictions = loop.features.records(FEATURES), loop.scorer.records(PREDICTIONS)
    assert [{k: p[k] for k in ("id", "key", "ts", "x")} for p in predictions] == features
    assert {(p["model"], p["y_pred"], p["proba"]) for p in predictions} == {(None, None, None)}  # cold start
    assert [m.key for m in loop.scorer.messages(PREDICTIONS)] == [f["id"] for f in features]


def test_the_joiner_reads_predictions_and_labels(loop: Loop) -> None:
    assert loop.joiner.dead_letters == []
    predictions = {p["id"]: p for p in loop.scorer.records(PREDICTIONS)}
    labels = {label["id"]: label["label"] for label in loop.labels if label is not None}
    examples = loop.joiner.records(EXAMPLES)
    assert sorted(e["id"] for e in examples) == sorted(labels)
    for example in examples:
        prediction = predictions[example["id"]]
        assert example["y"] == labels[example["id"]]
        assert {k: example[k] for k in ("ts", "x", "y_pred", "proba", "model")} == {
            k: prediction[k] for k in ("ts", "x", "y_pred", "proba", "model")
        }


def test_the_learner_reads_the_examples(loop: Loop) -> None:
    assert loop.learner.dead_letters == []
    assert loop.learner.function.state.n_learned == len(loop.joiner.records(EXAMPLES))
    assert loop.learner.messages(MODELS), "the learner promoted no model"


def test_the_scorer_serves_the_models_the_learner_writes(loop: Loop) -> None:
    model = loop.learner.messages(MODELS)[-1]
    metadata = ModelMetadata.parse(model.properties)
    unsigned = {k: v for k, v in model.properties.items() if k != SIGNATURE_PROPERTY}
    assert unsigned == read_properties(model.payload)  # the properties repeat the metadata, and sign it
    assert model.key == "default" and metadata.feature_names == tuple(loop.features.records(FEATURES)[0]["x"])
    scorer = function_of("scorer")
    publish_model(scorer, model)
    hand_over(loop.features.messages(FEATURES)[:3], scorer, FEATURES)
    predictions = scorer.records(PREDICTIONS)
    assert {p["model"] for p in predictions} == {f"default:{metadata.version}"}
    assert all(set(p["proba"]) == {"false", "true"} for p in predictions)
    assert not [r for r in scorer.records(METRICS) if r["event"] == "rejection"]


def test_the_scorer_serves_the_models_streamloop_train_writes(loop: Loop) -> None:
    features = loop.features.records(FEATURES)
    labels = {label["id"]: label["label"] for label in loop.labels if label is not None}
    rows = [(f["x"], labels[f["id"]]) for f in features if f["id"] in labels]
    payload = train_onnx(rows, version="boot-1", feature_names=list(features[0]["x"]))
    scorer = function_of("scorer")
    publish_model(scorer, signed(payload))
    hand_over(loop.features.messages(FEATURES)[:3], scorer, FEATURES)
    assert {p["model"] for p in scorer.records(PREDICTIONS)} == {"default:boot-1"}


def test_the_report_reads_the_metric_records(loop: Loop, tmp_path: Path) -> None:
    scorer = function_of("scorer")
    bad = linear_classifier(["x0"], [1.0], version="bad", input_width=3)
    publish_model(scorer, signed(bad))
    hand_over(loop.features.messages(FEATURES)[:1], scorer, FEATURES)  # rejected: its input is too wide
    client = MemoryClient()
    producer = client.create_producer(METRICS)
    for stage in (scorer, loop.joiner, loop.learner):
        for message in stage.messages(METRICS):
            producer.send(message.payload, partition_key=message.key)
    summary = summarize(collect(client))
    learner_events = [r["event"] for r in loop.learner.records(METRICS)]
    assert summary.counts["promotions"] == learner_events.count("promotion") > 0
    assert summary.counts["windows"] == learner_events.count("window") > 0
    assert summary.counts["expired"] == len(UNLABELLED)
    assert [reason.split(":")[0] for _, reason in summary.rejections] == ["input"]
    assert summary.metric == "accuracy" and "default:challenger" in summary.series
    saved = collect(client)
    saved.save(tmp_path)
    assert summarize(RunLog.load(tmp_path)).counts == summary.counts


@pytest.mark.parametrize("stage", ["features", "scorer", "joiner", "learner"])
def test_dead_letters_name_the_error_function_topic_and_message(loop: Loop, stage: str) -> None:
    harness = FunctionHarness.from_yaml(CONFIG / f"{stage}.yaml")
    input_topic = harness.definition.spec.inputs[0]
    message_id = harness.send(b'{"id": ""}', topic=input_topic)
    [dead] = harness.dead_letters
    letter = read_dead_letter(dead.properties)
    assert dead.payload == b'{"id": ""}'
    assert letter == {
        "error": "id: missing or empty",
        "function": stage,
        "input_topic": input_topic,
        "message_id": str(message_id),
    }
