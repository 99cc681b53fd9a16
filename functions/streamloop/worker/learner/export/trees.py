"""river's Hoeffding trees as exact ONNX: the leaf a row reaches (:mod:`treepaths`), times its prediction.

- ``HoeffdingTreeClassifier``: the reached leaf's normalised class counts (``leaf_prediction="mc"``).
- ``HoeffdingAdaptiveTreeClassifier``: the sum of the reached leaf's and of the alternate leaves' error-
  weighted distributions along the path, normalised, as river's ``predict_proba_one`` (``"mc"``).
- ``HoeffdingTreeRegressor``: the reached leaf's mean, or its linear model ``w·x + b`` (``"mean"``,
  ``"model"`` and ``"adaptive"`` leaves: each leaf's choice is fixed when the model is exported).

Naive-Bayes leaves (``"nb"``, ``"nba"``) are refused: their Gaussian densities are not computed exactly.
Every leaf prediction is river's own value, read from the leaf at export; columns follow ``classes``, a
class the tree never saw gets probability 0, and equal probabilities go to the class river's dict lists
first (sorted classes; the adaptive tree's set order).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from river import linear_model, optim, tree
from river.tree.nodes.branch import DTBranch
from river.tree.nodes.htr_nodes import LeafAdaptive, LeafModel

from streamloop.worker.learner.export.graph import Graph
from streamloop.worker.learner.export.registry import Head, UnsupportedModel, predictor
from streamloop.worker.learner.export.treepaths import Path, TreePaths, walk

MAJORITY_CLASS = "mc"


def check_majority_class_leaves(model: Any, index: int) -> None:
    """Refuse naive-Bayes leaves (``leaf_prediction`` other than ``"mc"``)."""
    if model.leaf_prediction != MAJORITY_CLASS:
        raise UnsupportedModel(
            f"{type(model).__name__} with leaf_prediction={model.leaf_prediction!r}: naive-Bayes leaves are"
            " not exported exactly; use leaf_prediction='mc' (majority class)",
            index,
            "leaf_prediction",
        )


def check_linear_leaf_model(model: Any, index: int) -> None:
    """Model leaves must be river's ``LinearRegression`` with an identity link (the default)."""
    leaf_model = model.leaf_model
    if leaf_model is None:  # a forest's trees take the default
        return
    if not isinstance(leaf_model, linear_model.LinearRegression) or (
        type(leaf_model.loss).mean_func is not optim.losses.RegressionLoss.mean_func
    ):
        raise UnsupportedModel(
            f"{type(model).__name__}: only LinearRegression leaf models are exported", index, "leaf_model"
        )


def distribution(dist: dict[Any, float] | None, classes: Sequence[Any]) -> list[float]:
    """A leaf's class distribution in ``classes`` order (0 for a class it never saw)."""
    dist = dist or {}
    return [float(dist.get(c, 0.0)) for c in classes]


def tie_order(river_order: Sequence[Any], classes: Sequence[Any]) -> list[int] | None:
    """The ``Head.ties`` of a model whose probability dict lists ``river_order`` (then the other classes).

    >>> tie_order(["a", "b"], ["b", "c", "a"]), tie_order([False, True], [False, True])
    ([2, 0, 1], None)
    """
    known = [c for c in river_order if c in classes]
    order = [list(classes).index(c) for c in known]
    order += [i for i in range(len(classes)) if i not in order]
    return None if order == list(range(len(classes))) else order


def classifier_leaves(model: Any, paths: TreePaths, classes: Sequence[Any]) -> tuple[list[Path], np.ndarray]:
    """The leaves of a (non-adaptive) Hoeffding tree classifier: their paths and distributions ``[L, K]``."""
    if model._root is None:
        return [()], np.zeros((1, len(classes)))
    items, values = [], []
    for visit in walk(model._root, paths):
        if not isinstance(visit.node, DTBranch):
            items.append(visit.path)
            values.append(distribution(visit.node.prediction({}, tree=model), classes))
    return items, np.array(values, dtype=np.float64)


def regressor_leaves(model: Any, paths: TreePaths) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """The leaves of a Hoeffding tree regressor: paths, linear weights ``[L, F]`` and intercepts ``[L]``."""
    names = list(paths.feature_names)
    if model._root is None:
        return [()], np.zeros((1, len(names))), np.zeros(1)
    items, weights, bias = [], [], []
    for visit in walk(model._root, paths):
        leaf = visit.node
        if isinstance(leaf, DTBranch):
            continue
        items.append(visit.path)
        acts_as_mean = isinstance(leaf, LeafAdaptive) and leaf._fmse_mean < leaf._fmse_model
        if isinstance(leaf, LeafModel) and not acts_as_mean:
            fitted = leaf._leaf_model
            weights.append([fitted._weights.get(name, 0.0) for name in names])
            bias.append(float(fitted.intercept))
        else:
            weights.append([0.0] * len(names))
            bias.append(float(leaf.prediction({}, tree=model)))
    return items, np.array(weights, dtype=np.float64), np.array(bias, dtype=np.float64)


def normalised(graph: Graph, proba: str) -> str:
    """Each row over its sum; a row summing to 0 stays as it is (river's ``normalize_values_in_dict``)."""
    total = graph.node("ReduceSum", [proba, graph.const(np.array([1], dtype=np.int64))], keepdims=1)
    positive = graph.node("Greater", [total, graph.const(0.0)])
    return graph.node("Where", [positive, graph.node("Div", [proba, total]), proba])


def leaf_values(graph: Graph, x: str, reach: str, weights: np.ndarray, bias: np.ndarray) -> str:
    """``[N, 1]``: the reached leaf's ``w·x + b`` (a constant for mean leaves)."""
    if not weights.any():
        return graph.node("MatMul", [reach, graph.const(bias.reshape(-1, 1), "leaf_means")])
    per_leaf = graph.node(
        "Add", [graph.node("MatMul", [x, graph.const(weights.T.copy())]), graph.const(bias)]
    )
    reached = graph.node("Mul", [reach, per_leaf])
    return graph.node("ReduceSum", [reached, graph.const(np.array([1], dtype=np.int64))], keepdims=1)


@predictor(tree.HoeffdingTreeClassifier, check_majority_class_leaves)
def hoeffding_tree_classifier(model: Any, graph: Graph, x: str, classes: Sequence[Any]) -> Head:
    paths = TreePaths(graph.feature_names)
    items, values = classifier_leaves(model, paths, classes)
    (reach,) = paths.emit(graph, x, [items])
    proba = graph.node("MatMul", [reach, graph.const(values, "leaves")])
    return Head("proba", proba, tie_order(sorted(model.classes), classes))


@predictor(tree.HoeffdingAdaptiveTreeClassifier, check_majority_class_leaves)
def hoeffding_adaptive_tree_classifier(model: Any, graph: Graph, x: str, classes: Sequence[Any]) -> Head:
    paths = TreePaths(graph.feature_names)
    items: list[Path] = []
    values: list[list[float]] = []
    for visit in walk(model._root, paths) if model._root is not None else ():
        node = visit.node
        if not isinstance(node, DTBranch):
            items.append(visit.path)
            values.append(distribution(node.prediction({}, tree=model), classes))
            continue
        alternate = node._alternate_tree
        if not alternate:
            continue
        if isinstance(alternate, DTBranch):
            raise ValueError("an alternate subtree that has split: river's predict_proba_one fails on it")
        vote = distribution(alternate.prediction({}, tree=model), classes)
        # river's walk yields a node reached through its parent's most common path twice
        for path in (visit.path, visit.default_path) if visit.via_default else (visit.path,):
            items.append(path)
            values.append(vote)
    if not items:
        items, values = [()], [[0.0] * len(classes)]
    (reach,) = paths.emit(graph, x, [items])
    proba = graph.node("MatMul", [reach, graph.const(np.array(values, dtype=np.float64), "leaves")])
    return Head("proba", normalised(graph, proba), tie_order(list(model.classes), classes))


@predictor(tree.HoeffdingTreeRegressor, check_linear_leaf_model)
def hoeffding_tree_regressor(model: Any, graph: Graph, x: str, classes: Sequence[Any]) -> Head:
    paths = TreePaths(graph.feature_names)
    items, weights, bias = regressor_leaves(model, paths)
    (reach,) = paths.emit(graph, x, [items])
    return Head("value", leaf_values(graph, x, reach, weights, bias))
