"""Every linear model, behind every exported preprocessing step, predicts in ONNX what it predicts in river.

Property tests over random streams, hyper-parameters and feature orders, with a column the model never saw:
labels exactly, probabilities and values to 1e-5. The scorer feeds float32 rows, so river is asked about the
same values as Python floats.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from river import base, compose, linear_model, optim, preprocessing

from streamloop.worker.config import ConfigError, parse_user_config
from streamloop.worker.learner.export import UnsupportedModel, check_exportable, model_to_onnx
from streamloop.worker.learner.settings import LearnerConfig

FEATURES = ["a", "b", "c"]
UNSEEN = "unseen"  # a column of the model's input that river never learned from

unit = st.floats(0.01, 1.0)
positive = st.floats(0.01, 10.0)

CLASSIFIERS: dict[str, st.SearchStrategy[Any]] = {
    "LogisticRegression": st.builds(
        linear_model.LogisticRegression,
        optimizer=st.sampled_from([optim.SGD(0.05), optim.Adam(), optim.AdaGrad()]),
        l2=st.sampled_from([0.0, 0.001]),
    ),
    "Perceptron": st.builds(linear_model.Perceptron, l2=st.sampled_from([0.0, 0.01, 0.1])),
    "PAClassifier": st.builds(
        linear_model.PAClassifier, C=positive, mode=st.sampled_from([0, 1, 2]), learn_intercept=st.booleans()
    ),
    "ALMAClassifier": st.builds(
        linear_model.ALMAClassifier, p=st.sampled_from([2, 3, 4]), alpha=unit, B=positive, C=positive
    ),
}
REGRESSORS: dict[str, st.SearchStrategy[Any]] = {
    "LinearRegression": st.builds(
        linear_model.LinearRegression, optimizer=st.sampled_from([optim.SGD(0.01), optim.Adam()])
    ),
    "PARegressor": st.builds(
        linear_model.PARegressor,
        C=positive,
        mode=st.sampled_from([0, 1, 2]),
        eps=st.floats(0.0, 1.0),
        learn_intercept=st.booleans(),
    ),
    "BayesianLinearRegression": st.builds(
        linear_model.BayesianLinearRegression,
        alpha=positive,
        beta=positive,
    ),
}
windows = st.none() | st.integers(1, 30)
STEPS: dict[str, st.SearchStrategy[Any]] = {
    "StandardScaler": st.builds(preprocessing.StandardScaler, window_size=windows),
    "MinMaxScaler": st.builds(preprocessing.MinMaxScaler, window_size=windows),
    "MaxAbsScaler": st.builds(preprocessing.MaxAbsScaler, window_size=windows),
    "Binarizer": st.builds(preprocessing.Binarizer, threshold=st.floats(-2.0, 2.0)),
}


def stream(seed: int, n: int, task: str) -> list[tuple[dict[str, float], Any]]:
    """``n`` examples of a random linear concept; ``c`` is sometimes constant (a zero range)."""
    rng = random.Random(seed)
    weights = {f: rng.uniform(-3, 3) for f in FEATURES}
    scales = {f: 10 ** rng.uniform(-1, 2) for f in FEATURES}
    constant = rng.random() < 0.3
    examples = []
    for _ in range(n):
        x = {f: rng.gauss(0, scales[f]) for f in FEATURES}
        if constant:
            x["c"] = 4.0
        score = sum(weights[f] * x[f] / scales[f] for f in FEATURES)
        y = score + rng.gauss(0, 0.5) > 0 if task == "classification" else score + rng.gauss(0, 0.1)
        examples.append((x, y))
    return examples


def rows(seed: int, names: list[str], n: int = 40) -> np.ndarray:
    """Random float32 rows, with zeros and values outside the learned range."""
    rng = random.Random(seed)
    values = [[rng.choice([0.0, rng.gauss(0, 50), rng.uniform(-3, 3)]) for _ in names] for _ in range(n)]
    return np.array(values, dtype=np.float32)


def river_answer(predict: Callable[[], Any]) -> Any:
    """river's answer, or ``None`` where river raises (a windowed min-max of a feature never seen: the
    learner never exports one, since it learns every feature of ``feature_names`` from the first example)."""
    try:
        answer = predict()
    except TypeError:
        return None
    values = answer.values() if isinstance(answer, dict) else [answer]
    return None if any(isinstance(v, complex) for v in values) else answer  # a negative rolling variance


def run_onnx(model: Any, names: list[str], X: np.ndarray) -> list[np.ndarray]:
    blob = model_to_onnx(model, names, {"version": "1"})
    return ort.InferenceSession(blob, providers=["CPUExecutionProvider"]).run(None, {"input": X})


def check_classifier(model: Any, names: list[str], X: np.ndarray) -> None:
    label, proba = run_onnx(model, names, X)
    for row, got_label, got in zip(X, label, proba, strict=True):
        x = {f: float(v) for f, v in zip(names, row, strict=True)}
        want = river_answer(lambda x=x: model.predict_proba_one(x))
        if want is None:  # river raises: no answer to compare with
            continue
        if math.isnan(want[True]):  # river's probability is NaN: so is ONNX's
            assert np.isnan(got).all()
            continue
        assert list(want) == [False, True]
        assert float(got[0]) == pytest.approx(want[False], abs=1e-5)
        assert float(got[1]) == pytest.approx(want[True], abs=1e-5)
        assert bool(got_label) == model.predict_one(x)


def check_regressor(model: Any, names: list[str], X: np.ndarray) -> None:
    (variable,) = run_onnx(model, names, X)
    for row, got in zip(X, variable[:, 0], strict=True):
        x = {f: float(v) for f, v in zip(names, row, strict=True)}
        want = river_answer(lambda x=x: model.predict_one(x))
        if want is None:
            continue
        if math.isnan(want):
            assert math.isnan(got)
            continue
        if abs(want) > np.finfo(np.float32).max:  # beyond float32, which the ONNX graph computes in
            assert float(got) == math.copysign(math.inf, want)
            continue
        assert float(got) == pytest.approx(want, abs=1e-5, rel=1e-6)


def pipelines(models: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """A model behind zero, one or two preprocessing steps, each step and model with random parameters."""
    model = st.one_of(*models.values())
    step = st.one_of(*STEPS.values())
    return st.tuples(st.lists(step, max_size=2), model).map(
        lambda parts: compose.Pipeline(*parts[0], parts[1]) if parts[0] else parts[1]
    )


def learn(model: Any, examples: list[tuple[dict[str, float], Any]]) -> None:
    """Learn ``examples``; a model river itself cannot learn is no case for the exporter (rejected).

    river 0.26.1's windowed ``StandardScaler`` can compute a slightly negative variance over a window of
    equal values; its square root is then complex and the model after it raises ``TypeError``.
    """
    try:
        for x, y in examples:
            model.learn_one(x, y)
    except TypeError:
        reject()
    for step in model.steps.values() if isinstance(model, compose.Pipeline) else [model]:
        windowed = isinstance(step, preprocessing.StandardScaler) and step.window_size is not None
        if windowed and any(v.get() < 0 for v in step.vars.values()):
            reject()


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize(
    ("models", "task", "check"),
    [(CLASSIFIERS, "classification", check_classifier), (REGRESSORS, "regression", check_regressor)],
    ids=["classifiers", "regressors"],
)
def test_exported_models_match_river(models, task, check):
    @PROPERTY
    @given(model=pipelines(models), seed=st.integers(0, 2**16), n=st.integers(1, 120))
    def matches(model, seed, n):
        learn(model, stream(seed, n, task))
        names = [*random.Random(seed).sample(FEATURES, len(FEATURES)), UNSEEN]
        check(model, names, rows(seed + 1, names))

    matches()


@pytest.mark.parametrize("step", sorted(STEPS))
@pytest.mark.parametrize("last", sorted({**CLASSIFIERS, **REGRESSORS}))
def test_every_step_in_front_of_every_model(step, last):
    """Default parameters, every pair, on one stream (the property tests draw the parameters)."""
    model = getattr(preprocessing, step)() | getattr(linear_model, last)()
    task = "classification" if isinstance(model[last], base.Classifier) else "regression"
    for x, y in stream(7, 100, task):
        model.learn_one(x, y)
    names = [*FEATURES, UNSEEN]
    (check_classifier if task == "classification" else check_regressor)(model, names, rows(8, names))


@pytest.mark.parametrize(
    ("last", "nan"), [(linear_model.LinearRegression, True), (linear_model.PARegressor, False)]
)
def test_a_feature_never_seen_scales_to_nan_and_counts_as_in_river(last, nan):
    """MinMaxScaler scales it to NaN; a GLM weighs it 0 (NaN), a PA model skips it (no weight)."""
    model = preprocessing.MinMaxScaler() | last()
    model.learn_one({"a": 1.0}, 2.0)
    (variable,) = run_onnx(model, ["a", UNSEEN], np.array([[1.0, 3.0]], dtype=np.float32))
    assert math.isnan(model.predict_one({"a": 1.0, UNSEEN: 3.0})) is nan
    assert float(variable[0, 0]) == pytest.approx(model.predict_one({"a": 1.0, UNSEEN: 3.0}), nan_ok=True)


def learner_config(steps: list[dict[str, Any]]) -> LearnerConfig:
    return parse_user_config(LearnerConfig, {"model": {"steps": steps}}, source="learner.yaml")


@pytest.mark.parametrize(
    "steps",
    [
        [
            {"class": "preprocessing.MinMaxScaler"},
            {"class": "linear_model.PAClassifier", "params": {"C": 0.1}},
        ],
        [{"class": "preprocessing.MaxAbsScaler"}, {"class": "linear_model.Perceptron"}],
        [
            {"class": "preprocessing.Binarizer", "params": {"threshold": 0.5}},
            {"class": "linear_model.ALMAClassifier"},
        ],
        [
            {"class": "preprocessing.MinMaxScaler", "params": {"window_size": 100}},
            {"class": "linear_model.PARegressor"},
        ],
        [{"class": "preprocessing.StandardScaler"}, {"class": "linear_model.BayesianLinearRegression"}],
    ],
)
def test_config_accepts_every_exported_pipeline(steps):
    assert learner_config(steps).model.steps[-1].class_ == steps[-1]["class"]


def test_config_refuses_normalizer_naming_the_step():
    steps = [{"class": "preprocessing.Normalizer"}, {"class": "linear_model.LogisticRegression"}]
    with pytest.raises(
        ConfigError, match=r"model\.steps\[0\]\.class: .*unknown river class 'preprocessing.Normalizer'"
    ):
        learner_config(steps)


@pytest.mark.parametrize("last", sorted({**CLASSIFIERS, **REGRESSORS}))
def test_an_untrained_model_predicts_what_river_does(last):
    model = getattr(linear_model, last)()
    names = [*FEATURES, UNSEEN]
    if isinstance(model, base.Classifier):
        check_classifier(model, names, rows(3, names, n=5))
    else:
        check_regressor(model, names, rows(3, names, n=5))


def test_a_smoothed_bayesian_regression_is_refused_at_its_parameter() -> None:
    with pytest.raises(UnsupportedModel, match="smoothing") as refused:
        check_exportable(linear_model.BayesianLinearRegression(smoothing=0.9))
    assert refused.value.param == "smoothing"
