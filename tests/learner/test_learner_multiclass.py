"""Multiclass models in the learner: the configured labels learned as they are, in ``classes`` order."""

from __future__ import annotations

import random

import numpy as np
import onnxruntime as ort
import orjson
import pytest

from streamloop.runtime.testing import FunctionHarness
from streamloop.worker.config import ConfigError, parse_user_config, topic
from streamloop.worker.learner import LearnerConfig, LearnerFunction
from streamloop.worker.learner.models import pure_inference_mode

EXAMPLES, MODELS, METRICS = topic("examples"), topic("models"), topic("metrics")
SCALER = {"class": "preprocessing.StandardScaler"}
SOFTMAX = {"class": "linear_model.SoftmaxRegression"}
GAUSSIAN_NB = {"class": "naive_bayes.GaussianNB"}
CLASSES = [30, 10, 20]


def problems(user_config: dict) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as error:
        parse_user_config(LearnerConfig, user_config, source="learner.yaml")
    return [(p.key, p.message) for p in error.value.problems]


def multiclass(*steps: dict, **config) -> dict:
    return {"model": {"steps": list(steps)}, "classes": CLASSES, **config}


@pytest.mark.parametrize(
    ("config", "text"),
    [
        ({"model": {"steps": [SCALER, SOFTMAX]}}, "required for a multiclass model"),
        (multiclass(GAUSSIAN_NB, classes=["a"]), "two or more different labels"),
        (multiclass(GAUSSIAN_NB, classes=["a", "b", "a"]), "two or more different labels"),
        (multiclass(GAUSSIAN_NB, classes=["a", 1, 2]), "one type"),
    ],
)
def test_classes_are_required_and_checked_for_a_multiclass_model(config, text):
    [(key, message)] = problems(config)
    assert key == "userConfig.classes" and text in message


@pytest.mark.parametrize("metric", ["metrics.F1", "metrics.Precision", "metrics.MCC"])
def test_binary_metrics_are_refused_for_a_multiclass_model(metric):
    [(key, message)] = problems(multiclass(SOFTMAX, metric={"class": metric}))
    assert key == "userConfig.metric.class" and "binary metric" in message


@pytest.mark.parametrize(
    "metric", ["metrics.Accuracy", "metrics.MacroF1", "metrics.MicroF1", "metrics.CohenKappa"]
)
def test_multiclass_metrics_are_accepted(metric):
    config = parse_user_config(
        LearnerConfig, multiclass(SCALER, SOFTMAX, metric={"class": metric}), source="l"
    )
    assert config.multiclass and config.label_classes == CLASSES


def test_binary_models_keep_two_classes():
    config = parse_user_config(LearnerConfig, {"classes": ["ham", "spam"]}, source="learner.yaml")
    assert not config.multiclass
    [(key, message)] = problems({"classes": ["a", "b", "c"]})
    assert key == "userConfig.classes" and "two different labels" in message


def learner(model: dict, **config) -> FunctionHarness:
    user_config = {"checkpoint_every": 10, "metrics_every": 50, "classes": CLASSES, "model": model, **config}
    user_config["promotion"] = {"min_samples": 30, "every_n": 100, "margin": 1.0}  # at e99, e199
    return FunctionHarness(
        LearnerFunction, user_config=user_config, inputs=[EXAMPLES], output=MODELS, name="learner"
    )


def examples(n: int, seed: int = 0) -> list[dict]:
    """Three classes around three centres of ``a``; the serving model always predicts 10."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        y = rng.choice(CLASSES)
        x = {"a": y / 10 + rng.gauss(0, 0.5), "b": rng.gauss(0, 1)}
        out.append(
            {"id": f"e{i}", "ts": i, "x": x, "y": y, "y_pred": 10, "proba": None, "model": "default:0"}
        )
    return out


@pytest.mark.parametrize("last", [SOFTMAX, GAUSSIAN_NB], ids=["softmax", "gaussian_nb"])
def test_the_labels_are_learned_and_exported_in_classes_order(last):
    h = learner({"steps": [SCALER, last]}, metric={"class": "metrics.MacroF1"})
    for record in examples(200):
        h.send(record)
    model = h.function.state.model
    with pure_inference_mode():
        assert set(model.predict_proba_one({"a": 2.0, "b": 0.0})) == set(CLASSES)  # the labels themselves
    message = h.messages(MODELS)[-1]
    assert message.properties["n_trained"] == "200"
    assert orjson.loads(message.properties["classes"]) == CLASSES
    X = np.random.default_rng(1).normal(2, 1, size=(50, 2)).astype(np.float32)
    labels, proba = ort.InferenceSession(message.payload, providers=["CPUExecutionProvider"]).run(
        None, {"input": X}
    )
    with pure_inference_mode():
        for row, label, got in zip(X, labels, proba, strict=True):
            x = {"a": float(row[0]), "b": float(row[1])}
            want = model.predict_proba_one(x)
            np.testing.assert_allclose(got, [want[c] for c in CLASSES], atol=1e-5)
            assert int(label) == model.predict_one(x)
    windows = [r for r in h.records(METRICS) if r["event"] == "window"]
    served = next(r for r in windows if r["model"] == "default:0" and r["window"] == 0)
    assert 0.0 < served["macro_f1"] < 1.0  # the serving model's "10" scored against the labels


def test_a_label_outside_classes_is_a_dead_letter():
    h = learner({"steps": [GAUSSIAN_NB]})
    first, bad = examples(2)
    h.send(first)
    message = h.send({**bad, "y": 40})
    [dead] = h.dead_letters
    assert dead.properties["error"].startswith("y: expected one of [30, 10, 20], got 40")
    assert message in h.acked and h.function.state.n_learned == 1


def test_a_restarted_multiclass_learner_ends_with_the_same_model():
    stream = examples(150)
    steady, crashing = learner({"steps": [GAUSSIAN_NB]}), learner({"steps": [GAUSSIAN_NB]})
    for i, record in enumerate(stream):
        steady.send(record)
        crashing.send(record)
        if i in (15, 77):
            crashing.restart()
    for record in stream[:20]:
        crashing.send(record)  # duplicates: skipped
    a, b = steady.function.state.model, crashing.function.state.model
    assert (
        a["GaussianNB"].class_counts == b["GaussianNB"].class_counts
        and crashing.function.state.n_learned == 150
    )
    with pure_inference_mode():
        assert a.predict_proba_one({"a": 1.0, "b": 0.0}) == b.predict_proba_one({"a": 1.0, "b": 0.0})
