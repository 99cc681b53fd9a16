"""river's preprocessing steps whose transform is exact in ONNX (each one elementwise, float64).

- ``StandardScaler``: ``(x - mean) / std``, 0 where ``std`` is 0 (a feature of zero variance, or one
  never seen).
- ``MinMaxScaler``: ``(x - min) / (max - min)``, 0 where ``max == min``, with the running (or, with
  ``window_size``, rolling) extremes. A feature never seen has ``min = inf`` and ``max = -inf`` in river,
  so it scales to NaN there and here.
- ``MaxAbsScaler``: ``x / max|x|``, 0 where that is 0 (a feature never seen included).
- ``Binarizer``: ``1.0`` where ``x > threshold``, else ``0.0`` (river's ``True``/``False``).

``Normalizer`` is not exported: river divides by the row's norm, so an all-zero row raises in river (the
learner could not learn it) and has no finite output for the scorer's zero-row probe.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from onnx import TensorProto
from river import preprocessing

from streamloop.worker.learner.export.graph import Graph
from streamloop.worker.learner.export.registry import UnsupportedModel, transformer


def scaler_arrays(
    scaler: preprocessing.StandardScaler, names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, std)`` such that river's ``transform_one`` is ``(x - mean) / std``, 0 where ``std`` is 0."""
    windowed = scaler.window_size is not None
    mean = np.zeros(len(names))
    std = np.ones(len(names))
    for j, name in enumerate(names):
        m = scaler.means.get(name)
        mean[j] = (m.get() if windowed else m) if m is not None else 0.0
        if scaler.with_std:
            v = scaler.vars.get(name)
            var = (v.get() if windowed else v) if v is not None else 0.0
            std[j] = float(var) ** 0.5 if var else 0.0
    return mean, std


@transformer(preprocessing.StandardScaler)
def standard_scaler(scaler: preprocessing.StandardScaler, graph: Graph, x: str) -> str:
    mean, std = scaler_arrays(scaler, graph.feature_names)
    return _safe_div(graph, graph.node("Sub", [x, graph.const(mean, "mean")]), std)


def _safe_div(graph: Graph, numerator: str, denominator: np.ndarray) -> str:
    """``numerator / denominator`` per column, and 0 where ``denominator`` is 0 (even for a NaN
    numerator), as river's ``(x - a) / d if d else 0.0``."""
    zero = denominator == 0
    divided = graph.node("Div", [numerator, graph.const(np.where(zero, 1.0, denominator), "divisor")])
    return graph.node("Where", [graph.const(zero, "zero_divisor"), graph.const(0.0, "zero"), divided])


def _extreme(statistics: Any, name: str, unseen: float) -> float:
    stat = statistics.get(name)
    value = stat.get() if stat is not None else None
    return unseen if value is None else float(value)


@transformer(preprocessing.MinMaxScaler)
def min_max_scaler(scaler: preprocessing.MinMaxScaler, graph: Graph, x: str) -> str:
    names = graph.feature_names
    lo = np.array([_extreme(scaler.min, name, np.inf) for name in names])
    hi = np.array([_extreme(scaler.max, name, -np.inf) for name in names])
    with np.errstate(invalid="ignore"):
        span = hi - lo  # -inf for a feature never seen: nonzero, so (x - inf) / -inf = NaN, as river
    return _safe_div(graph, graph.node("Sub", [x, graph.const(lo, "min")]), span)


@transformer(preprocessing.MaxAbsScaler)
def max_abs_scaler(scaler: preprocessing.MaxAbsScaler, graph: Graph, x: str) -> str:
    peak = np.array([_extreme(scaler.abs_max, name, 0.0) for name in graph.feature_names])
    return _safe_div(graph, x, peak)


def _check_binarizer(binarizer: preprocessing.Binarizer, index: int) -> None:
    if binarizer.dtype not in (bool, int, float):
        raise UnsupportedModel(f"Binarizer with dtype {binarizer.dtype!r}: not a number", index, "dtype")


@transformer(preprocessing.Binarizer, _check_binarizer)
def binarizer(step: preprocessing.Binarizer, graph: Graph, x: str) -> str:
    above = graph.node("Greater", [x, graph.const(float(step.threshold), "threshold")])
    return graph.node("Cast", [above], to=TensorProto.DOUBLE)
