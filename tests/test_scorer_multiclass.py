"""The scorer serves a multiclass model: ``proba`` keyed by every class, ``y_pred`` a class value."""

from __future__ import annotations

import pytest
from river import naive_bayes

from streamloop.runtime.testing import FunctionHarness
from streamloop.worker.config import topic
from streamloop.worker.learner.export import model_to_onnx
from streamloop.worker.modelsigning import SIGNATURE_PROPERTY, sign
from streamloop.worker.scorer import ScorerFunction
from streamloop.worker.secretkeys import MODEL_SIGNING_KEY

FEATURES, PREDICTIONS, MODELS = topic("features"), topic("predictions"), topic("models")


def serve(model, classes: list) -> FunctionHarness:
    scorer = FunctionHarness(ScorerFunction, inputs=[FEATURES], output=PREDICTIONS, name="scorer")
    blob = model_to_onnx(model, ["a", "b"], {"version": "4"}, classes=classes)
    signature = sign(scorer.secret(MODEL_SIGNING_KEY).encode(), "default", blob)
    scorer.client.create_producer(MODELS).send(
        blob, partition_key="default", properties={SIGNATURE_PROPERTY: signature}
    )
    scorer.client.run_callbacks()
    return scorer


def predict(scorer: FunctionHarness, a: float, b: float) -> dict:
    scorer.send({"id": f"e{a}{b}", "key": "k", "ts": 1.0, "x": {"a": a, "b": b}})
    return scorer.records(PREDICTIONS)[-1]


@pytest.mark.parametrize("classes", [["low", "mid", "high", "never"], [30, 10, 20, 40]])
def test_proba_is_keyed_by_every_class_and_y_pred_is_rivers_label(classes):
    model = naive_bayes.GaussianNB()
    for i in range(60):
        model.learn_one({"a": float(i % 3) + i / 100, "b": 1.0 + i % 2}, classes[i % 3])
    scorer = serve(model, classes)
    for a, b in [(0.1, 1.0), (1.2, 2.0), (2.3, 1.0), (9.0, 9.0)]:
        record = predict(scorer, a, b)
        want = model.predict_proba_one({"a": a, "b": b})
        assert record["model"] == "default:4"
        assert list(record["proba"]) == [str(c) for c in classes]
        assert record["proba"][str(classes[3])] == 0.0  # never seen
        assert record["y_pred"] == model.predict_one({"a": a, "b": b})
        assert type(record["y_pred"]) is type(classes[0])
        assert max(record["proba"].values()) == pytest.approx(max(want.values()), abs=1e-6)


def test_a_tie_is_broken_as_river_does_not_by_column_order():
    model = naive_bayes.GaussianNB()  # one example each: equal probabilities everywhere
    model.learn_one({"a": 0.0, "b": 0.0}, "seen_first")
    model.learn_one({"a": 0.0, "b": 0.0}, "seen_second")
    record = predict(serve(model, ["seen_second", "seen_first"]), 0.0, 0.0)
    assert record["proba"]["seen_first"] == record["proba"]["seen_second"]
    assert record["y_pred"] == model.predict_one({"a": 0.0, "b": 0.0}) == "seen_first"
