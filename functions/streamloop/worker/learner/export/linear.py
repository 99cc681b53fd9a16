"""river's linear models whose prediction is exact in ONNX.

``LogisticRegression`` (binary, sigmoid link): probabilities ``[1 - p, p]`` in the order of river's
``False, True``; ``LinearRegression`` (identity link). Features river never saw get weight 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from river import linear_model, optim

from streamloop.worker.learner.export.graph import Graph
from streamloop.worker.learner.export.registry import Head, UnsupportedModel, predictor


def _dot(model: Any, graph: Graph, x: str) -> str:
    """``x @ weights + intercept`` (float64 ``[N, 1]``)."""
    weights = np.array([[model._weights.get(name, 0.0)] for name in graph.feature_names], dtype=np.float64)
    dot = graph.node("MatMul", [x, graph.const(weights.reshape(-1, 1), "weights")])
    return graph.node("Add", [dot, graph.const(np.array([float(model.intercept)]), "intercept")])


def _check_logistic(model: linear_model.LogisticRegression, index: int) -> None:
    if type(model.loss).mean_func is not optim.losses.BinaryLoss.mean_func:
        name = type(model.loss).__name__
        raise UnsupportedModel(f"LogisticRegression with {name} loss: no sigmoid link", index, "loss")


def _check_linear(model: linear_model.LinearRegression, index: int) -> None:
    if type(model.loss).mean_func is not optim.losses.RegressionLoss.mean_func:
        name = type(model.loss).__name__
        raise UnsupportedModel(f"LinearRegression with {name} loss: no identity link", index, "loss")


@predictor(linear_model.LogisticRegression, _check_logistic)
def logistic_regression(model: Any, graph: Graph, x: str, classes: Sequence[Any]) -> Head:
    if len(classes) != 2:
        raise ValueError(f"classes: a binary model needs two labels, got {list(classes)!r}")
    p_true = graph.node("Sigmoid", [_dot(model, graph, x)])
    p_false = graph.node("Sub", [graph.const(1.0, "one"), p_true])
    return Head("proba", graph.node("Concat", [p_false, p_true], axis=1))


@predictor(linear_model.LinearRegression, _check_linear)
def linear_regression(model: Any, graph: Graph, x: str, classes: Sequence[Any]) -> Head:
    return Head("value", _dot(model, graph, x))
