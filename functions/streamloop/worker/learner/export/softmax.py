"""river's ``SoftmaxRegression``: ``softmax(x @ W)`` over the classes it saw, as its ``predict_proba_one``.

river keeps one weight dict per class seen (``model.weights``, in the order first learned) and no
intercept; a feature a class never learned has weight 0 (``utils.math.dot`` skips it). A class never
seen has probability 0 (:mod:`~streamloop.worker.learner.export.multiclass`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from river import linear_model

from streamloop.worker.learner.export.graph import Graph
from streamloop.worker.learner.export.multiclass import class_columns, softmax
from streamloop.worker.learner.export.registry import Head, predictor


@predictor(linear_model.SoftmaxRegression)
def softmax_regression(model: Any, graph: Graph, x: str, classes: Sequence[Any]) -> Head:
    labels = list(model.weights)
    if not labels:
        return class_columns(graph, None, labels, classes)
    weights = np.array(
        [[model.weights[label].get(name, 0.0) for label in labels] for name in graph.feature_names],
        dtype=np.float64,
    )
    scores = graph.node("MatMul", [x, graph.const(weights, "weights")])
    return class_columns(graph, softmax(graph, scores), labels, classes)
