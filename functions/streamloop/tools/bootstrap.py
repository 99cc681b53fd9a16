"""Offline bootstrap: fit a scikit-learn model on history and convert it to the ONNX model contract.

Used by ``streamloop train`` to give the scorer a first model before the learner has promoted one, and by
tests that need a fixed model. Needs the ``train`` extra (scikit-learn, skl2onnx).

>>> rows = [({"a": float(i % 7), "b": float(i % 3)}, i % 7 > 3) for i in range(200)]
>>> payload = train_onnx(rows, version="boot-1")
>>> from streamloop.worker.scorer import OnnxModel
>>> model = OnnxModel.load(payload, "default", max_bytes=10**6)
>>> model.label, model.feature_names, model.classes
('default:boot-1', ('a', 'b'), (False, True))
>>> model.predict({"a": 6.0, "b": 0.0}).y_pred
True
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from streamloop.worker.modelcontract import ModelMetadata, write_model


def train_onnx(
    rows: Iterable[tuple[Mapping[str, float], Any]],
    *,
    version: str,
    task: str = "classification",
    feature_names: Sequence[str] | None = None,
    source: str = "streamloop train",
) -> bytes:
    """Fit ``StandardScaler | LogisticRegression`` (or ``LinearRegression``) and return ONNX bytes."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rows = list(rows)
    if not rows:
        raise ValueError("train: no rows")
    names = list(feature_names) if feature_names is not None else sorted(rows[0][0])
    X = np.array([[float(x.get(name, 0.0)) for name in names] for x, _ in rows], dtype=np.float32)
    y = [label for _, label in rows]
    estimator = LogisticRegression(max_iter=1000) if task == "classification" else LinearRegression()
    pipeline = make_pipeline(StandardScaler(), estimator).fit(X, y)
    options = {LogisticRegression: {"zipmap": False}} if task == "classification" else None
    proto = convert_sklearn(
        pipeline,
        initial_types=[("input", FloatTensorType([None, len(names)]))],
        options=options,
        target_opset=17,
    )
    classes = tuple(pipeline.classes_.tolist()) if task == "classification" else None
    extra = {"n_trained": len(rows), "created_at": time.time(), "source": source}
    return write_model(proto, ModelMetadata(version, tuple(names), task, classes, extra))
