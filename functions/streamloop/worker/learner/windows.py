"""Prequential metrics per model version, over tumbling windows of examples, as ``metrics`` records.

>>> from river import metrics
>>> windows = VersionWindows(metrics.Accuracy())
>>> windows.update("m:1", True, True)
>>> windows.update("m:1", False, True)
>>> windows.update("m:challenger", False, False)
>>> windows.flush()
[{'model': 'm:1', 'n': 2, 'accuracy': 0.5}, {'model': 'm:challenger', 'n': 1, 'accuracy': 1.0}]
>>> windows.flush()
[]
"""

from __future__ import annotations

import re
from typing import Any


def metric_name(metric: Any) -> str:
    """The record field of a river metric: its class name in snake case.

    >>> from river import metrics
    >>> metric_name(metrics.BalancedAccuracy()), metric_name(metrics.MAE())
    ('balanced_accuracy', 'mae')
    """
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", type(metric).__name__).lower()


class VersionWindows:
    """One fresh metric per model version for the current window; :meth:`flush` closes the window."""

    def __init__(self, metric: Any) -> None:
        self.metric = metric
        self.name = metric_name(metric)
        self.index = 0
        self._current: dict[str, tuple[Any, int]] = {}

    def update(self, model: str, y: Any, y_pred: Any) -> None:
        """Count one prediction of ``model``."""
        metric, n = self._current.get(model) or (self.metric.clone(), 0)
        metric.update(y, y_pred)
        self._current[model] = (metric, n + 1)

    def flush(self) -> list[dict[str, Any]]:
        """The window's records (``model``, ``n``, metric value), and start the next window."""
        records = [{"model": m, "n": n, self.name: metric.get()} for m, (metric, n) in self._current.items()]
        self._current = {}
        self.index += 1
        return records
