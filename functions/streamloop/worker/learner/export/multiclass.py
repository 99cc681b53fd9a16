"""The columns of a multiclass model: river's classes (in its dict order) placed in the configured order.

river's multiclass models return probabilities only for the classes they saw, in the order they first
saw them; the contract's ``probabilities`` has one column per configured class. :func:`class_columns`
scatters the seen classes' probabilities into those columns (a class never seen gets 0, as
``predict_proba_one(x).get(c, 0.0)``) and gives the tie order of river's ``predict_one``: the seen
classes in river's order, then the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from streamloop.worker.learner.export.graph import Graph
from streamloop.worker.learner.export.registry import Head


def column_of(labels: Sequence[Any], classes: Sequence[Any]) -> list[int]:
    """The configured column of each river label; ``ValueError`` for a label not in ``classes``.

    >>> column_of(["b", "a"], ["a", "b", "c"])
    [1, 0]
    """
    index = {(type(c), c): i for i, c in enumerate(classes)}
    columns = []
    for label in labels:
        column = index.get((type(label), label))
        if column is None:
            raise ValueError(f"classes: the model learned {label!r}, which is not one of {list(classes)!r}")
        columns.append(column)
    return columns


def class_columns(graph: Graph, seen: str | None, labels: Sequence[Any], classes: Sequence[Any]) -> Head:
    """The ``proba`` head of ``seen`` (float64 ``[N, len(labels)]``, river's order) over ``classes``.

    ``seen`` is ``None`` when the model saw no class yet: every probability is 0, as river's ``{}``.
    """
    columns = column_of(labels, classes)
    placement = np.zeros((max(len(labels), 1), len(classes)))
    for row, column in enumerate(columns):
        placement[row, column] = 1.0  # one 1 per row: each product is exact, every other term is 0
    if seen is None:  # a zero column (the features are finite), then placed: zeros [N, K]
        row_sum = graph.node("ReduceSum", [graph.x, _axis(graph)], keepdims=1)
        seen = graph.node("Mul", [row_sum, graph.const(0.0, "zero")])
    proba = graph.node("MatMul", [seen, graph.const(placement, "placement")])
    ties = tuple(columns) + tuple(i for i in range(len(classes)) if i not in columns)
    return Head("proba", proba, ties)


def softmax(graph: Graph, scores: str) -> str:
    """River's ``utils.math.softmax`` along axis 1: ``exp(s - max) / sum``."""
    top = graph.node("ReduceMax", [scores], axes=[1], keepdims=1)
    exps = graph.node("Exp", [graph.node("Sub", [scores, top])])
    total = graph.node("ReduceSum", [exps, _axis(graph)], keepdims=1)
    return graph.node("Div", [exps, total])


def normalise_log(graph: Graph, log_likelihood: str) -> str:
    """``exp(ll - logsumexp(ll))`` along axis 1, as river's naive Bayes (scipy's ``logsumexp``)."""
    top = graph.node("ReduceMax", [log_likelihood], axes=[1], keepdims=1)
    shifted = graph.node("Exp", [graph.node("Sub", [log_likelihood, top])])
    total = graph.node("ReduceSum", [shifted, _axis(graph)], keepdims=1)
    lse = graph.node("Add", [graph.node("Log", [total]), top])
    return graph.node("Exp", [graph.node("Sub", [log_likelihood, lse])])


def _axis(graph: Graph) -> str:
    return graph.const(np.array([1], dtype=np.int64), "axis")
