"""The scorer: a prediction per event naming its model; bad models refused while the old one serves."""

from __future__ import annotations

import pytest
from onnx_models import linear_classifier, sigmoid

from streamloop.runtime.testing import FunctionHarness
from streamloop.worker.config import topic
from streamloop.worker.modelsigning import SIGNATURE_PROPERTY, sign
from streamloop.worker.scorer import ScorerFunction
from streamloop.worker.secretkeys import MODEL_SIGNING_KEY

FEATURES, PREDICTIONS, MODELS, METRICS = (
    topic("features"),
    topic("predictions"),
    topic("models"),
    topic("metrics"),
)


@pytest.fixture
def scorer() -> FunctionHarness:
    return FunctionHarness(
        ScorerFunction,
        user_config={"max_model_bytes": 100_000},
        inputs=[FEATURES],
        output=PREDICTIONS,
        name="scorer",
    )


def features(i: int, a: float = 1.0, b: float = 0.0) -> dict:
    return {"id": f"e{i}", "key": "user-1", "ts": 1000.0 + i, "x": {"a": a, "b": b}}


def publish_model(
    harness: FunctionHarness, payload: bytes, name: str = "default", signature: str | None = None
) -> None:
    """Publish a model signed with the scorer's key (or with ``signature``; ``""``: unsigned); the scorer
    verifies and validates it when the next message arrives."""
    if signature is None:
        signature = sign(harness.secret(MODEL_SIGNING_KEY).encode(), name, payload)
    properties = {SIGNATURE_PROPERTY: signature} if signature else {}
    harness.client.create_producer(MODELS).send(payload, partition_key=name, properties=properties)
    harness.client.run_callbacks()


def rejections(harness: FunctionHarness) -> list[dict]:
    return [r for r in harness.records(METRICS) if r["event"] == "rejection"]


def test_cold_start_emits_a_null_model_prediction_for_every_event(scorer):
    for i in range(3):
        scorer.send(features(i), key="user-1")
    out = scorer.records(PREDICTIONS)
    assert [r["id"] for r in out] == ["e0", "e1", "e2"]
    assert all(r["model"] is None and r["y_pred"] is None and r["proba"] is None for r in out)
    assert out[0]["x"] == {"a": 1.0, "b": 0.0} and out[0]["key"] == "user-1"
    assert [m.key for m in scorer.messages(PREDICTIONS)] == ["e0", "e1", "e2"]  # keyed by event id
    assert not scorer.unacked


def test_hot_swap_scores_with_the_new_model_and_names_its_version(scorer):
    scorer.send(features(0))
    publish_model(scorer, linear_classifier(["a", "b"], [2.0, -1.0], 0.5, version="7"))
    scorer.send(features(1, a=1.0, b=3.0))
    first, second = scorer.records(PREDICTIONS)
    assert first["model"] is None
    assert second["model"] == "default:7"
    p = sigmoid(2.0 * 1.0 - 1.0 * 3.0 + 0.5)
    assert second["proba"] == pytest.approx({"false": 1 - p, "true": p}, abs=1e-6)
    assert second["y_pred"] is (p > 0.5)


def test_models_for_another_name_are_ignored(scorer):
    publish_model(scorer, linear_classifier(["a", "b"], [1.0, 1.0]), name="other")
    scorer.send(features(0))
    assert scorer.records(PREDICTIONS)[0]["model"] is None


BAD_MODELS = {
    "truncated": lambda good: good[: len(good) // 2],
    "not onnx": lambda good: b"\x80\x04definitely not a model",
    "wrong input width": lambda good: linear_classifier(["a", "b"], [1.0, 1.0], version="9", input_width=3),
    "feature names not in the stream": lambda good: linear_classifier(["a", "zzz"], [1.0, 1.0], version="9"),
    "NaN output": lambda good: linear_classifier(["a", "b"], [1.0, 1.0], version="9", output_nan=True),
    "over the size limit": lambda good: good + b"\0" * 200_000,
    "no version": lambda good: linear_classifier(["a", "b"], [1.0, 1.0], metadata={"version": ""}),
}


@pytest.mark.parametrize("kind", sorted(BAD_MODELS))
def test_a_bad_model_is_rejected_on_metrics_and_the_old_one_keeps_serving(scorer, kind):
    good = linear_classifier(["a", "b"], [1.0, 1.0], version="1")
    publish_model(scorer, good)
    scorer.send(features(0))
    publish_model(scorer, BAD_MODELS[kind](good))
    scorer.send(features(1))
    scorer.send(features(2))
    out = scorer.records(PREDICTIONS)
    assert [r["id"] for r in out] == ["e0", "e1", "e2"]  # no gap
    assert {r["model"] for r in out} == {"default:1"}
    (rejection,) = rejections(scorer)
    assert rejection["model"] == "default" and rejection["serving"] == "default:1"
    assert rejection["reason"]
    assert not scorer.dead_letters


def test_rejection_reasons_name_what_failed(scorer):
    scorer.send(features(0))
    reasons = {}
    for i, (kind, make) in enumerate(BAD_MODELS.items(), 1):
        publish_model(scorer, make(linear_classifier(["a", "b"], [1.0, 1.0])))
        scorer.send(features(i))  # a new model is validated before the next message is scored
        reasons[kind] = rejections(scorer)[-1]["reason"]
    assert reasons["truncated"].startswith("onnx:")
    assert reasons["not onnx"].startswith("onnx:")
    assert reasons["wrong input width"].startswith("input: width 3")
    assert "zzz" in reasons["feature names not in the stream"]
    assert reasons["NaN output"].startswith("probe: non-finite")
    assert reasons["over the size limit"].startswith("size:")
    assert reasons["no version"] == "metadata version: missing"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "payload: invalid JSON"),
        (b"[1,2]", "payload: expected a JSON object"),
        (b'{"x": {"a": 1, "b": 2}}', "id: missing"),
        (b'{"id": "e1", "x": {"a": "1", "b": 2}}', "x.a: expected a finite number"),
        (b'{"id": "e1", "x": {"a": NaN, "b": 2}}', "payload: invalid JSON"),
        (b'{"id": "e1", "x": {"a": 1e999, "b": 2}}', "payload: invalid JSON (number is infinity"),
        (b'{"id": "e1", "x": [1, 2]}', "x: expected an object"),
    ],
)
def test_malformed_features_go_to_dead_letters_with_the_reason(scorer, payload, reason):
    scorer.send(features(0))
    scorer.send(payload)
    scorer.send(features(2))
    assert [r["id"] for r in scorer.records(PREDICTIONS)] == ["e0", "e2"]
    (dead,) = scorer.dead_letters
    assert dead.payload == payload
    assert dead.properties["error"].startswith(reason)
    assert dead.properties["function"] == "scorer"
    assert dead.properties["input_topic"] == FEATURES
    assert not scorer.unacked


def test_a_feature_the_model_needs_but_the_record_lacks_is_a_dead_letter(scorer):
    publish_model(scorer, linear_classifier(["a", "b"], [1.0, 1.0]))
    scorer.send({"id": "e1", "ts": 1.0, "x": {"a": 1.0}})
    (dead,) = scorer.dead_letters
    assert dead.properties["error"] == "x.b: missing, and model default:1 needs it"


def test_predictions_wait_for_the_broker_before_the_input_is_acked(scorer):
    scorer.client.fail_sends(PREDICTIONS, 1)
    first = scorer.send(features(0))
    second = scorer.send(features(1))
    assert first in scorer.unacked  # its prediction was not confirmed: Pulsar will redeliver it
    assert second in scorer.acked


def test_a_restarted_scorer_serves_its_last_good_model_when_the_newest_one_is_bad(scorer):
    publish_model(scorer, linear_classifier(["a", "b"], [1.0, 1.0], version="1"))
    scorer.send(features(0))
    publish_model(scorer, b"not a model")  # the compacted models topic now holds only this
    scorer.send(features(1))
    scorer.restart()
    scorer.send(features(2))
    out = scorer.records(PREDICTIONS)
    assert [(r["id"], r["model"]) for r in out] == [
        ("e0", "default:1"),
        ("e1", "default:1"),
        ("e2", "default:1"),
    ]
    assert [r["serving"] for r in rejections(scorer)] == ["default:1", "default:1"]  # before and after


def test_a_model_swap_stores_the_serving_model_behind_the_processing_thread(scorer):
    """Issue 12, defect 9: the new serving model's ``put_state`` calls must not block ``process()``."""
    processing, puts = [], []
    function, store = scorer.function, scorer.runner.state[scorer.name]
    process, put = function.process, store.put

    def tracked_process(*args):
        processing.append(True)
        try:
            return process(*args)
        finally:
            processing.pop()

    function.process = tracked_process
    store.put = lambda key, value: (puts.append((key, bool(processing))), put(key, value))
    publish_model(scorer, linear_classifier(["a", "b"], [1.0, 1.0], version="1"))
    scorer.send(features(0))
    assert scorer.records(PREDICTIONS)[0]["model"] == "default:1"
    assert puts and all(key.startswith("serving/default/0") for key, _ in puts)
    assert not [key for key, inside in puts if inside]  # stored after process() returned
