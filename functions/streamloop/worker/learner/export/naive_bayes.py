"""river's ``GaussianNB``: the joint log-likelihood of each class seen, normalised, as ``predict_proba_one``.

For class ``c`` and row ``x``: ``log P(c) + sum_f log(eps + pdf_cf(x_f))`` with ``P(c)`` the class's share
of the examples, ``pdf_cf`` the density of the class's Gaussian of feature ``f`` (``ddof=0``) and
``eps`` river's ``10e-10``. A Gaussian that does not exist (a feature the class never saw) or has zero
variance has density 0, as in river; every column of the row counts, as the learner always passes every
feature. Probabilities are ``exp(ll - logsumexp(ll))``; a class never seen has probability 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from river import naive_bayes
from river.naive_bayes import gaussian

from streamloop.worker.learner.export.graph import Graph
from streamloop.worker.learner.export.multiclass import class_columns, normalise_log
from streamloop.worker.learner.export.registry import Head, predictor

SQRT_TAU = math.sqrt(2.0 * math.pi)  # river's utils.math.norm_pdf divides by this


def gaussian_arrays(
    model: naive_bayes.GaussianNB, labels: Sequence[Any], names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(log prior [S], mean [S, F], sigma [S, F], has_density [S, F])`` of the classes ``labels``.

    Read-only: ``gaussians`` is a ``defaultdict``, so it is read with ``get``.
    """
    total = sum(model.class_counts.values())
    prior = np.array([math.log(model.class_counts[c] / total) for c in labels])
    mean, sigma, density = (np.zeros((len(labels), len(names))) for _ in range(3))
    sigma[:] = 1.0  # a placeholder where there is no density (masked out)
    for s, label in enumerate(labels):
        per_feature = model.gaussians.get(label, {})
        for f, name in enumerate(names):
            g = per_feature.get(name)
            if g is None:
                continue
            var = g._var
            n = var.mean.n
            variance = var._S / (n - var.ddof) if n > var.ddof else 0.0
            if variance > 0.0:
                mean[s, f], sigma[s, f], density[s, f] = var.mean._mean, math.sqrt(variance), 1.0
    return prior, mean, sigma, density


@predictor(naive_bayes.GaussianNB)
def gaussian_nb(model: Any, graph: Graph, x: str, classes: Sequence[Any]) -> Head:
    labels = list(model.class_counts)
    if not labels:
        return class_columns(graph, None, labels, classes)
    prior, mean, sigma, density = gaussian_arrays(model, labels, graph.feature_names)
    rows = graph.node("Unsqueeze", [x, graph.const(np.array([1], dtype=np.int64), "axis")])  # [N, 1, F]
    scale = graph.const(sigma, "sigma")
    z = graph.node("Div", [graph.node("Sub", [rows, graph.const(mean, "mean")]), scale])
    bell = graph.node("Exp", [graph.node("Mul", [graph.node("Mul", [graph.const(-0.5), z]), z])])
    pdf = graph.node("Div", [graph.node("Div", [bell, graph.const(SQRT_TAU, "sqrt_tau")]), scale])
    pdf = graph.node("Mul", [pdf, graph.const(density, "has_density")])
    log_pdf = graph.node("Log", [graph.node("Add", [pdf, graph.const(gaussian._PDF_EPS, "eps")])])
    summed = graph.node(
        "ReduceSum", [log_pdf, graph.const(np.array([2], dtype=np.int64), "axis")], keepdims=0
    )
    joint = graph.node("Add", [summed, graph.const(prior, "log_prior")])  # [N, S]
    return class_columns(graph, normalise_log(graph, joint), labels, classes)
