"""river's adaptive random forests as exact ONNX: the foreground trees (:mod:`trees`) and river's vote.

- ``ARFClassifier`` (``leaf_prediction="mc"``): each tree's leaf distribution times the tree's metric
  (when ``disable_weighted_vote`` is false and the metric is positive), summed tree by tree in river's
  order, normalised, as ``predict_proba_one``; ties go to the class river's vote counter met first.
  Background trees do not vote, so they are not exported.
- ``ARFRegressor`` (``aggregation_method="mean"``): the mean of the trees' predictions, each weighted as
  river weighs it (by its error relative to the others) unless ``disable_weighted_vote``; the median is
  refused.

Metric values and weights are the forest's at export time, computed by the same arithmetic as river's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from river import forest

from streamloop.worker.learner.export.graph import Graph
from streamloop.worker.learner.export.registry import Head, UnsupportedModel, predictor
from streamloop.worker.learner.export.treepaths import TreePaths
from streamloop.worker.learner.export.trees import (
    check_linear_leaf_model,
    check_majority_class_leaves,
    classifier_leaves,
    leaf_values,
    normalised,
    regressor_leaves,
    tie_order,
)


def _check_regressor(model: forest.ARFRegressor, index: int) -> None:
    if model.aggregation_method != model._MEAN:
        raise UnsupportedModel(
            f"ARFRegressor with aggregation_method={model.aggregation_method!r}: only 'mean' is exported",
            index,
            "aggregation_method",
        )
    check_linear_leaf_model(model, index)


@predictor(forest.ARFClassifier, check_majority_class_leaves)
def arf_classifier(model: Any, graph: Graph, x: str, classes: Sequence[Any]) -> Head:
    paths = TreePaths(graph.feature_names)
    trees = []
    for i, member in enumerate(model):
        items, values = classifier_leaves(member, paths, classes)
        metric_value = model._metrics[i].get()
        if not model.disable_weighted_vote and metric_value > 0.0:
            values = values * metric_value
        trees.append((items, values))
    if not trees:  # river's untrained forest: no vote
        trees.append(([()], np.zeros((1, len(classes)))))
    reaches = paths.emit(graph, x, [items for items, _ in trees])
    votes = [
        graph.node("MatMul", [r, graph.const(v, "leaves")]) for r, (_, v) in zip(reaches, trees, strict=True)
    ]
    total = votes[0]
    for vote in votes[1:]:
        total = graph.node("Add", [total, vote])
    first_seen: dict[Any, None] = {}  # river's Counter: each tree's sorted classes, in tree order
    for member in model:
        first_seen.update(dict.fromkeys(sorted(member.classes)))
    return Head("proba", normalised(graph, total), tie_order(list(first_seen), classes))


@predictor(forest.ARFRegressor, _check_regressor)
def arf_regressor(model: Any, graph: Graph, x: str, classes: Sequence[Any]) -> Head:
    paths = TreePaths(graph.feature_names)
    leaves = [regressor_leaves(member, paths) for member in model]
    if not leaves:
        leaves = [([()], np.zeros((1, len(graph.feature_names))), np.zeros(1))]
    reaches = paths.emit(graph, x, [items for items, _, _ in leaves])
    predictions = [leaf_values(graph, x, r, w, b) for r, (_, w, b) in zip(reaches, leaves, strict=True)]
    stacked = graph.node("Concat", predictions, axis=1) if len(predictions) > 1 else predictions[0]
    weights = vote_weights(model, len(predictions))
    weighted = graph.node("Mul", [stacked, graph.const(weights, "tree_weights")])
    return Head("value", graph.node("ReduceMean", [weighted], axes=[1], keepdims=1))


def vote_weights(model: forest.ARFRegressor, n: int) -> np.ndarray:
    """Each tree's factor in river's mean: ``1`` unweighted, else its normalised relative error."""
    weights = np.ones(n)
    if model.disable_weighted_vote or len(model) == 0:
        return weights
    errors = np.array([metric.get() for metric in model._metrics[:n]], dtype=np.float64)
    total = 0.0
    for error in errors:
        total += error
    if total != 0:
        errors = total - errors
        with np.errstate(invalid="ignore"):  # one tree: 0/0, NaN as in river (the scorer's probe refuses it)
            errors /= errors.sum()
        return errors
    return weights
