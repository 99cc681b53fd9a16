"""Streams and river-vs-ONNX comparison for the tree and forest export tests."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnxruntime as ort
from river import datasets

from streamloop.worker.learner.export import model_to_onnx

TRAINED = ["a", "b", "g", "n"]  # n is nominal (0..3); g takes few values, so rows land on thresholds


def row(rng: random.Random, unseen_values: bool = False) -> dict[str, float]:
    """One row; with ``unseen_values``, nominal values and ranges the model never saw."""
    spread = 1.5 if unseen_values else 1.0
    return {
        "a": rng.uniform(-spread, spread),
        "b": rng.gauss(0, spread),
        "g": float(rng.randrange(-3, 4)) / 2,
        "n": float(rng.randrange(6 if unseen_values else 4)),
    }


def label(x: dict[str, float], classes: Sequence[Any], rng: random.Random) -> Any:
    score = x["a"] + 0.5 * x["b"] + (0.8 if x["n"] == 2.0 else 0.0) - 0.3 * x["g"] + rng.gauss(0, 0.2)
    position = int((score + 1.5) / 3 * len(classes))
    return classes[min(max(position, 0), len(classes) - 1)]


def target(x: dict[str, float], rng: random.Random) -> float:
    return 3 * x["a"] + x["n"] ** 2 - 2 * abs(x["b"]) + 0.5 * x["g"] + rng.gauss(0, 0.1)


def learn(
    model: Any,
    n: int,
    seed: int,
    classes: Sequence[Any] | None = None,
    features: Sequence[str] = TRAINED,
    drift_at: int | None = None,
) -> Any:
    """``model`` after ``n`` examples of ``features``: labels from ``classes`` (each one becoming the next
    from ``drift_at`` on, except where ``n`` is 1), or a regression target."""
    rng = random.Random(seed)
    for i in range(n):
        x = row(rng)
        y = label(x, classes, rng) if classes else target(x, rng)
        if classes and drift_at is not None and i > drift_at and x["n"] != 1.0:
            y = classes[(list(classes).index(y) + 1) % len(classes)]
        model.learn_one({f: x[f] for f in features}, y)
    return model


def feature_names(rng: random.Random, drop: bool) -> list[str]:
    """The trained features in any order plus one the model never saw; ``drop`` leaves one trained out."""
    names = rng.sample(TRAINED, len(TRAINED))
    if drop:
        names.pop(rng.randrange(len(names)))
    return [*names, "unseen"]


def exported_rows(
    model: Any, names: list[str], classes: Sequence[Any] | None, seed: int, n: int = 200
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Float32 test rows (some with unseen values) and the exported model's outputs on them."""
    rng = random.Random(seed)
    rows = [{**row(rng, unseen_values=i % 3 == 0), "unseen": rng.gauss(0, 5)} for i in range(n)]
    X = np.array([[r[f] for f in names] for r in rows], dtype=np.float32)
    blob = model_to_onnx(model, names, {"version": "1"}, classes=classes or (False, True))
    session = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
    return X, session.run(None, {"input": X})


def as_river(X: np.ndarray, names: list[str]) -> list[dict[str, float]]:
    """Each float32 row as the dict river sees (float64 of the float32 values)."""
    return [{f: float(v) for f, v in zip(names, values, strict=True)} for values in X]


def assert_classifier_matches(model: Any, names: list[str], classes: Sequence[Any], seed: int) -> None:
    """Labels equal river's ``predict_one`` exactly, probabilities its ``predict_proba_one`` to 1e-5."""
    X, (labels, proba) = exported_rows(model, names, classes, seed)
    assert proba.shape == (len(X), len(classes))
    for x, got_label, got in zip(as_river(X, names), labels, proba, strict=True):
        want = model.predict_proba_one(x)
        assert set(want) <= set(classes)
        np.testing.assert_allclose(got, [want.get(c, 0.0) for c in classes], atol=1e-5)
        assert (got_label.item() if isinstance(got_label, np.generic) else got_label) == model.predict_one(x)


def assert_regressor_matches(model: Any, names: list[str], seed: int) -> None:
    """Values equal river's ``predict_one`` to 1e-5."""
    X, (values,) = exported_rows(model, names, None, seed)
    want = [model.predict_one(x) for x in as_river(X, names)]
    np.testing.assert_allclose(values[:, 0], want, atol=1e-5, rtol=1e-6)


def agrawal_events(n: int) -> list[dict]:
    """Drifting ``synth.Agrawal`` events with their ``label`` (half way to another function)."""
    stream = datasets.synth.ConceptDriftStream(
        stream=datasets.synth.Agrawal(classification_function=0, seed=1),
        drift_stream=datasets.synth.Agrawal(classification_function=4, seed=2),
        position=n // 2,
        width=50,
        seed=3,
    )
    return [
        {"id": f"e{i}", "key": f"k{i % 20}", "ts": float(i), **x, "label": bool(y)}
        for i, (x, y) in enumerate(itertools.islice(stream, n))
    ]


def friedman_events(n: int) -> list[dict]:
    """``synth.FriedmanDrift`` events (``x0``..``x9``) with their ``label`` (gradual drifts)."""
    stream = datasets.synth.FriedmanDrift(drift_type="gra", position=(n // 3, 2 * n // 3), seed=1)
    return [
        {"id": f"e{i}", "key": f"k{i % 20}", "ts": float(i), **{f"x{k}": v for k, v in x.items()}, "label": y}
        for i, (x, y) in enumerate(itertools.islice(stream, n))
    ]
