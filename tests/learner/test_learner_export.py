"""The ONNX export predicts what river predicts, to 1e-5, on random data and random learned weights."""

from __future__ import annotations

import random

import numpy as np
import onnx
import onnxruntime as ort
import orjson
import pytest
from river import linear_model, optim, preprocessing

from streamloop.worker.learner.export import UnsupportedModel, check_exportable, model_to_onnx

FEATURES = ["a", "b", "c", "d"]


def session(blob: bytes) -> ort.InferenceSession:
    return ort.InferenceSession(blob, providers=["CPUExecutionProvider"])


def trained(last, scaler: preprocessing.StandardScaler | None, seed: int, n: int = 400):
    """``last`` (behind ``scaler``) learned on random data; ``d`` is constant (zero variance)."""
    rng = random.Random(seed)
    model = last if scaler is None else scaler | last
    weights = {f: rng.uniform(-3, 3) for f in FEATURES}
    for _ in range(n):
        x = {"a": rng.gauss(5, 3), "b": rng.gauss(-2, 0.5), "c": rng.uniform(0, 100), "d": 7.0}
        score = sum(weights[f] * x[f] for f in "abc") / 50
        y = score + rng.random() > 0.5 if isinstance(last, linear_model.LogisticRegression) else score
        model.learn_one(x, y)
    return model


def random_rows(rng: random.Random, names: list[str], n: int = 300) -> np.ndarray:
    scale = {"a": 5, "b": 1, "c": 50, "d": 3}
    return np.array([[rng.gauss(0, scale.get(f, 2)) for f in names] for _ in range(n)], dtype=np.float32)


SCALERS = [None, preprocessing.StandardScaler, lambda: preprocessing.StandardScaler(window_size=50)]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("make_scaler", SCALERS, ids=["bare", "scaled", "windowed"])
@pytest.mark.parametrize("optimizer", [optim.SGD, optim.Adam])
def test_classification_matches_river(seed, make_scaler, optimizer):
    model = trained(
        linear_model.LogisticRegression(optimizer=optimizer()), make_scaler and make_scaler(), seed
    )
    rng = random.Random(seed + 100)
    # any column order, plus a feature river never saw (weight 0, scaled to 0)
    names = [*rng.sample(FEATURES, len(FEATURES)), "unseen"]
    X = random_rows(rng, names)
    label, proba = session(model_to_onnx(model, names, {"version": "1"})).run(None, {"input": X})
    assert label.shape == (len(X),) and proba.shape == (len(X), 2)
    for row, got_label, got in zip(X, label, proba, strict=True):
        x = {f: float(v) for f, v in zip(names, row, strict=True)}
        want = model.predict_proba_one(x)
        assert list(want) == [False, True]  # the probabilities' column order
        assert float(got[0]) == pytest.approx(want[False], abs=1e-5)
        assert float(got[1]) == pytest.approx(want[True], abs=1e-5)
        assert bool(got_label) == model.predict_one(x)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("make_scaler", SCALERS, ids=["bare", "scaled", "windowed"])
def test_regression_matches_river(seed, make_scaler):
    model = trained(
        linear_model.LinearRegression(optimizer=optim.Adam()), make_scaler and make_scaler(), seed
    )
    rng = random.Random(seed + 200)
    names = [*rng.sample(FEATURES, len(FEATURES)), "unseen"]
    X = random_rows(rng, names)
    (variable,) = session(model_to_onnx(model, names, {"version": "1"})).run(None, {"input": X})
    assert variable.shape == (len(X), 1)
    for row, got in zip(X, variable[:, 0], strict=True):
        want = model.predict_one({f: float(v) for f, v in zip(names, row, strict=True)})
        assert float(got) == pytest.approx(want, abs=1e-5, rel=1e-6)


@pytest.mark.parametrize(
    ("classes", "dtype"), [((False, True), np.bool_), ((0, 1), np.int64), (("ham", "spam"), np.object_)]
)
def test_labels_take_the_classes_type(classes, dtype):
    model = trained(linear_model.LogisticRegression(), preprocessing.StandardScaler(), 0)
    X = random_rows(random.Random(3), FEATURES, 50)
    label, proba = session(model_to_onnx(model, FEATURES, {"version": "1"}, classes=classes)).run(
        None, {"input": X}
    )
    assert label.dtype == dtype
    assert [str(v) for v in label] == [str(classes[int(p[1] > p[0])]) for p in proba]


def test_untrained_model_is_exportable_and_predicts_the_first_class():
    model = preprocessing.StandardScaler() | linear_model.LogisticRegression()
    label, proba = session(model_to_onnx(model, ["a"], {"version": "0"})).run(
        None, {"input": np.array([[3.0]], dtype=np.float32)}
    )
    assert proba.tolist() == [[0.5, 0.5]] and not label[0] and model.predict_one({"a": 3.0}) is False


def test_metadata_follows_the_model_contract():
    model = trained(linear_model.LogisticRegression(), preprocessing.StandardScaler(), 0)
    metadata = {
        "version": "7",
        "n_trained": "400",
        "created_at": "2026-01-01T00:00:00+00:00",
        "source": "test",
    }
    proto = onnx.load_from_string(model_to_onnx(model, ["b", "a"], metadata, classes=("no", "yes")))
    props = {p.key: p.value for p in proto.metadata_props}
    assert props == {
        **metadata,
        "feature_names": '["b","a"]',
        "task": "classification",
        "classes": '["no","yes"]',
    }
    assert [i.name for i in proto.graph.input] == ["input"]
    assert [o.name for o in proto.graph.output] == ["label", "probabilities"]
    regression = onnx.load_from_string(
        model_to_onnx(linear_model.LinearRegression(), ["a"], {"version": "1"})
    )
    props = {p.key: p.value for p in regression.metadata_props}
    assert props["task"] == "regression" and "classes" not in props
    assert orjson.loads(props["feature_names"]) == ["a"]
    assert [o.name for o in regression.graph.output] == ["variable"]


@pytest.mark.parametrize(
    ("model", "step", "param"),
    [
        (linear_model.LogisticRegression() | preprocessing.StandardScaler(), 0, None),
        (preprocessing.StandardScaler(), 0, None),
        (linear_model.LinearRegression(loss=optim.losses.Poisson()), 0, "loss"),
        (preprocessing.Normalizer() | linear_model.LinearRegression(), 0, None),
    ],
)
def test_unsupported_pipelines_are_refused_naming_the_step(model, step, param):
    with pytest.raises(UnsupportedModel) as error:
        check_exportable(model)
    assert (error.value.step, error.value.param) == (step, param)
    with pytest.raises(UnsupportedModel):
        model_to_onnx(model, ["a"], {"version": "1"})
