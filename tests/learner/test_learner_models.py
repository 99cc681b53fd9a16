"""Models from config: only allow-listed river classes, every mistake named by its key, pure inference."""

from __future__ import annotations

import pickle

import pytest
from river import compose

from streamloop.worker.config import ConfigError, parse_user_config
from streamloop.worker.learner import LearnerConfig, ModelSpec, build_model, pure_inference_mode

SCALER = {"class": "preprocessing.StandardScaler"}
LOGREG = {"class": "linear_model.LogisticRegression"}


def problems(user_config: dict) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as error:
        parse_user_config(LearnerConfig, user_config, source="learner.yaml")
    return [(p.key, p.message) for p in error.value.problems]


def steps(*items: dict) -> dict:
    return {"model": {"steps": list(items)}}


@pytest.mark.parametrize(
    "name",
    [
        "__import__",
        "builtins.eval",
        "os.system",
        "river.linear_model.LogisticRegression",
        "linear_model.LogisticRegression.__init__",
        "linear_model.__builtins__",
        "compose.FuncTransformer",
        "linear_model",
        "",
    ],
)
def test_unknown_classes_are_refused_naming_the_key(name):
    [(key, message)] = problems(steps(SCALER, {"class": name}))
    assert key == "userConfig.model.steps[1].class"
    assert "unknown river class" in message


def test_nested_objects_are_checked_too():
    config = steps(
        SCALER, {**LOGREG, "params": {"optimizer": {"class": "subprocess.Popen", "params": {"x": 1}}}}
    )
    [(key, message)] = problems(config)
    assert key == "userConfig.model.steps[1].params.optimizer.class" and "unknown river class" in message


@pytest.mark.parametrize(
    ("config", "key", "text"),
    [
        (steps(LOGREG, SCALER), "userConfig.model.steps[0].class", "ONNX exporter supports"),
        (steps(SCALER), "userConfig.model.steps[0].class", "as the last step"),
        (
            steps(
                {
                    "class": "linear_model.LinearRegression",
                    "params": {"loss": {"class": "optim.losses.Poisson"}},
                }
            ),
            "userConfig.model.steps[0].params.loss",
            "no identity link",
        ),
        (steps({"class": "drift.ADWIN"}), "userConfig.model.steps[0].class", "does not fit here"),
        (
            steps({**LOGREG, "params": {"optimiser": {"class": "optim.SGD"}}}),
            "userConfig.model.steps[0].params.optimiser",
            "unknown parameter",
        ),
        (
            steps({**LOGREG, "params": {"optimizer": {"class": "metrics.Accuracy"}}}),
            "userConfig.model.steps[0].params.optimizer.class",
            "cannot be a parameter",
        ),
        (
            steps({**LOGREG, "params": {"optimizer": {"class": "optim.losses.Log"}}}),
            "userConfig.model.steps",
            "probe",
        ),
        (steps({**LOGREG, "params": {"l1": 0.1, "l2": 0.1}}), "userConfig.model.steps[0].params", "rejected"),
        (steps({**LOGREG, "params": {"l2": "lots"}}), "userConfig.model.steps", "probe"),
        (
            steps({**LOGREG, "params": {"l2": [1]}}),
            "userConfig.model.steps[0].params.l2",
            "expected a number",
        ),
        (
            {"metric": {"class": "metrics.MAE"}},
            "userConfig.metric.class",
            "does not work with a classification",
        ),
        ({"drift": {"class": "metrics.MAE"}}, "userConfig.drift.class", "does not fit here"),
        (
            {**steps({"class": "linear_model.LinearRegression"}), "drift": {"class": "drift.binary.DDM"}},
            "userConfig.drift.class",
            "binary detectors",
        ),
        ({"classes": ["yes", 1]}, "userConfig.classes", "one type"),
        ({"classes": ["a", "b", "c"]}, "userConfig.classes", "two different labels"),
        ({"promotion": {"min_samples": 0}}, "userConfig.promotion.min_samples", "greater than 0"),
        ({"promotion": {"on_drift": "panic"}}, "userConfig.promotion.on_drift", "reset"),
        ({"checkpoint_every": 50, "dedup_window": 10}, "userConfig.dedup_window", "checkpoint_every"),
        ({"modle": {}}, "userConfig.modle", "unknown key"),
    ],
)
def test_config_mistakes_name_their_key(config, key, text):
    found = problems(config)
    assert [k for k, _ in found] == [key], found
    assert text in found[0][1]


def test_a_full_config_builds_the_pipeline():
    config = parse_user_config(
        LearnerConfig,
        {
            **steps(
                SCALER,
                {
                    "class": "linear_model.LogisticRegression",
                    "params": {"optimizer": {"class": "optim.Adam", "params": {"lr": 0.01}}, "l2": 0.001},
                },
            ),
            "drift": {"class": "drift.binary.DDM"},
            "metric": {"class": "metrics.F1"},
            "classes": ["ham", "spam"],
        },
        source="learner.yaml",
    )
    model = build_model(config.model)
    assert [type(s).__name__ for s in model.steps.values()] == ["StandardScaler", "LogisticRegression"]
    assert type(model["LogisticRegression"].optimizer).__name__ == "Adam"
    assert config.task == "classification" and config.label_classes == ["ham", "spam"]
    assert type(config.build_metric()).__name__ == "F1"
    assert build_model(config.model) is not build_model(config.model)  # a fresh model each time


def test_prediction_never_changes_the_model():
    model = build_model(ModelSpec.model_validate(steps(SCALER, LOGREG)["model"]))
    for i in range(50):
        model.learn_one({"a": float(i), "b": float(i % 7)}, i % 2 == 0)
    before = pickle.dumps(model)
    # Even where river is told to learn unsupervised steps during prediction, the guard keeps it pure.
    with compose.learn_during_predict(), pure_inference_mode():
        for i in range(50):
            model.predict_proba_one({"a": float(-i), "b": 3.0})
            model.predict_one({"a": float(2 * i), "b": 1.0})
    assert pickle.dumps(model) == before
    with compose.learn_during_predict():  # without the guard the same prediction teaches the scaler
        model.predict_one({"a": 1.0, "b": 1.0})
    assert pickle.dumps(model) != before
