"""river's preprocessing steps whose transform is exact in ONNX.

``StandardScaler``: ``(x - mean) * scale`` with river's safe division (a feature of zero variance, or one
never seen, scales to 0).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from river import preprocessing

from streamloop.worker.learner.export.graph import Graph
from streamloop.worker.learner.export.registry import transformer


def scaler_arrays(
    scaler: preprocessing.StandardScaler, names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, scale)`` such that river's ``transform_one`` is ``(x - mean) * scale`` (read-only)."""
    windowed = scaler.window_size is not None
    mean = np.zeros(len(names))
    scale = np.ones(len(names))
    for j, name in enumerate(names):
        m = scaler.means.get(name)
        mean[j] = (m.get() if windowed else m) if m is not None else 0.0
        if scaler.with_std:
            v = scaler.vars.get(name)
            var = (v.get() if windowed else v) if v is not None else 0.0
            scale[j] = 1.0 / var**0.5 if var else 0.0
    return mean, scale


@transformer(preprocessing.StandardScaler)
def standard_scaler(scaler: preprocessing.StandardScaler, graph: Graph, x: str) -> str:
    mean, scale = scaler_arrays(scaler, graph.feature_names)
    centred = graph.node("Sub", [x, graph.const(mean, "mean")])
    return graph.node("Mul", [centred, graph.const(scale, "scale")])
