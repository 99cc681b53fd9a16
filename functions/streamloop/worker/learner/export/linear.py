"""river's linear models whose prediction is exact in ONNX: a dot product, then a sigmoid or nothing.

Classifiers (binary; probabilities ``[1 - p, p]`` in the order of river's ``False, True``, with
``p = sigmoid(x · w + b)`` as their ``predict_proba_one``): ``LogisticRegression`` (sigmoid link),
``Perceptron`` (river's logistic regression with a hinge loss: same link), ``PAClassifier`` and
``ALMAClassifier`` (no intercept). Regressors (identity): ``LinearRegression``, ``PARegressor`` and
``BayesianLinearRegression`` (its mean prediction, ``predict_one``; no intercept).

river's sigmoid is 0 below -30 and 1 above 30; ONNX's differs there by less than 1e-13. A feature without
a weight counts as weight 0 in the GLM models (``LogisticRegression``, ``Perceptron``,
``LinearRegression``) and not at all in the others, as in river (it matters only for a NaN input, e.g.
``MinMaxScaler``'s of a feature never seen).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from onnx import TensorProto, helper
from river import linear_model, optim

from streamloop.worker.learner.export.graph import Graph
from streamloop.worker.learner.export.registry import Head, UnsupportedModel, predictor


def _dot(weights: Mapping[Any, float], intercept: float, graph: Graph, x: str, *, sparse: bool) -> str:
    """``x @ weights + intercept`` (float64 ``[N, 1]``).

    A feature without a weight counts as weight 0 in river's ``GLM`` models (so a NaN of it gives NaN);
    with ``sparse`` (``utils.math.dot`` and friends) it does not count at all, as in river.
    """
    names = graph.feature_names
    columns = [j for j, name in enumerate(names) if name in weights or not sparse]
    if not columns:
        n = graph.node("Shape", [x], start=0, end=1)
        shape = graph.node("Concat", [n, graph.const(np.array([1], dtype=np.int64), "one")], axis=0)
        zero = helper.make_tensor("zero", TensorProto.DOUBLE, [1], [0.0])
        dot = graph.node("ConstantOfShape", [shape], value=zero)
    else:
        if len(columns) < len(names):
            x = graph.node("Gather", [x, graph.const(np.array(columns, dtype=np.int64), "columns")], axis=1)
        column = np.array([[weights.get(names[j], 0.0)] for j in columns], dtype=np.float64)
        dot = graph.node("MatMul", [x, graph.const(column, "weights")])
    return graph.node("Add", [dot, graph.const(np.array([float(intercept)]), "intercept")])


def _binary(logit: str, graph: Graph, classes: Sequence[Any]) -> Head:
    """``[1 - sigmoid(logit), sigmoid(logit)]``: river's ``{False: 1 - p, True: p}``."""
    if len(classes) != 2:
        raise ValueError(f"classes: a binary model needs two labels, got {list(classes)!r}")
    p_true = graph.node("Sigmoid", [logit])
    p_false = graph.node("Sub", [graph.const(1.0, "one"), p_true])
    return Head("proba", graph.node("Concat", [p_false, p_true], axis=1))


def _check_logistic(model: linear_model.LogisticRegression, index: int) -> None:
    if type(model.loss).mean_func is not optim.losses.BinaryLoss.mean_func:
        name = type(model.loss).__name__
        raise UnsupportedModel(f"LogisticRegression with {name} loss: no sigmoid link", index, "loss")


def _check_linear(model: linear_model.LinearRegression, index: int) -> None:
    if type(model.loss).mean_func is not optim.losses.RegressionLoss.mean_func:
        name = type(model.loss).__name__
        raise UnsupportedModel(f"LinearRegression with {name} loss: no identity link", index, "loss")


@predictor(linear_model.LogisticRegression, _check_logistic)
@predictor(linear_model.Perceptron)  # a LogisticRegression with a hinge loss: its link is the sigmoid
def logistic_regression(model: Any, graph: Graph, x: str, classes: Sequence[Any]) -> Head:
    return _binary(_dot(model._weights, model.intercept, graph, x, sparse=False), graph, classes)


@predictor(linear_model.PAClassifier)
def pa_classifier(model: linear_model.PAClassifier, graph: Graph, x: str, classes: Sequence[Any]) -> Head:
    return _binary(_dot(model.weights, model.intercept, graph, x, sparse=True), graph, classes)


@predictor(linear_model.ALMAClassifier)
def alma_classifier(model: linear_model.ALMAClassifier, graph: Graph, x: str, classes: Sequence[Any]) -> Head:
    return _binary(_dot(model.w, 0.0, graph, x, sparse=True), graph, classes)


@predictor(linear_model.LinearRegression, _check_linear)
def linear_regression(model: Any, graph: Graph, x: str, classes: Sequence[Any]) -> Head:
    return Head("value", _dot(model._weights, model.intercept, graph, x, sparse=False))


@predictor(linear_model.PARegressor)
def pa_regressor(model: linear_model.PARegressor, graph: Graph, x: str, classes: Sequence[Any]) -> Head:
    return Head("value", _dot(model.weights, model.intercept, graph, x, sparse=True))


def _check_bayesian(model: linear_model.BayesianLinearRegression, index: int) -> None:
    if model.smoothing is not None:
        raise UnsupportedModel(
            "BayesianLinearRegression with smoothing: river raises LinAlgError on constant inputs, and the"
            " learner would retry that example forever",
            index,
            "smoothing",
        )


@predictor(linear_model.BayesianLinearRegression, _check_bayesian)
def bayesian_linear_regression(
    model: linear_model.BayesianLinearRegression, graph: Graph, x: str, classes: Sequence[Any]
) -> Head:
    return Head("value", _dot(bayesian_mean(model), 0.0, graph, x, sparse=True))


def bayesian_mean(model: linear_model.BayesianLinearRegression) -> dict[Any, float]:
    """The posterior mean weight of each feature, as ``predict_one`` uses it (reads river's cached mean)."""
    if not model._idx:
        return {}
    model._ensure_m()  # only refreshes the cache predict_one would refresh
    return {name: float(model._m_arr[i]) for name, i in model._idx.items()}
