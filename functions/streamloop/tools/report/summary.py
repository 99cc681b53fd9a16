"""The numbers of a report: per-version metric series, marks, counts and latency percentiles.

>>> from streamloop.tools.runlog import RunLog
>>> run = RunLog(
...     [
...         {"event": "promotion", "model": "m:1", "version": "1", "reason": "cold_start", "at": 10.0},
...         {"event": "window", "window": 0, "model": "m:1", "n": 500, "accuracy": 0.9, "at": 12.0},
...         {"event": "drift", "model": "m:1", "at": 13.0},
...         {"event": "window", "window": 1, "model": "m:1", "n": 500, "accuracy": 0.5, "at": 14.0},
...         {"event": "window", "window": 1, "model": "m:challenger", "n": 500, "accuracy": 0.7, "at": 14.0},
...     ],
...     {"event → prediction": [1.0, 2.0, 3.0, 40.0]},
... )
>>> s = summarize(run)
>>> s.metric, s.series["m:1"], s.counts["drifts"], s.latency["event → prediction"]["p50"]
('accuracy', [(2.0, 0.9), (4.0, 0.5)], 1, 2.5)
>>> s.served
[(2.0, 0.9), (4.0, 0.5)]
>>> s.last_served
('m:1', 0.5)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streamloop.tools.runlog import RunLog
from streamloop.worker.messages import window_metric

RAW_METRICS = frozenset({"mae", "mse", "rmse", "r2"})  # regression metrics: not fractions of 1


@dataclass
class Summary:
    """What the charts and the page show; times are seconds since the first ``metrics`` record."""

    metric: str = "accuracy"
    series: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    served: list[tuple[float, float]] = field(default_factory=list)  # every served version, n-weighted
    drifts: list[float] = field(default_factory=list)
    promotions: list[tuple[float, str, str]] = field(default_factory=list)  # (time, version, reason)
    rejections: list[tuple[float, str]] = field(default_factory=list)  # (time, reason)
    counts: dict[str, int] = field(default_factory=dict)
    latency: dict[str, dict[str, float]] = field(default_factory=dict)
    latency_samples: dict[str, list[float]] = field(default_factory=dict)

    @property
    def scale(self) -> float:
        """100 for a metric that is a fraction (accuracy, F1, ...), shown in %; 1 for an error (MAE, ...)."""
        return 1.0 if self.metric in RAW_METRICS else 100.0

    def shown(self, value: float) -> str:
        """``value`` as the page prints it: a fraction in %, an error (MAE, ...) as it is.

        >>> Summary(metric="mae").shown(2.2543), Summary().shown(0.8792)
        ('2.254', '87.92%')
        """
        return f"{value:.4g}" if self.scale == 1.0 else f"{100 * value:.2f}%"

    @property
    def last_served(self) -> tuple[str, float] | None:
        """The serving model's metric in the latest window (challengers left out)."""
        served = {m: pts for m, pts in self.series.items() if not m.endswith(":challenger") and pts}
        if not served:
            return None
        model, points = max(served.items(), key=lambda item: item[1][-1][0])
        return model, points[-1][1]


def _percentiles(values: list[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=float)
    p50, p95, p99 = np.percentile(array, [50, 95, 99])
    return {
        "n": float(array.size),
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
        "max": float(array.max()),
    }


def summarize(run: RunLog) -> Summary:
    """Turn a run's ``metrics`` records and latency samples into a :class:`Summary`."""
    records = [r for r in run.metrics if isinstance(r, dict)]
    times = [float(r["at"]) for r in records if isinstance(r.get("at"), int | float)]
    t0 = min(times) if times else 0.0
    summary = Summary()
    windows: dict[Any, list[float]] = {}  # window index -> [at, weighted sum, n] of served versions
    events = {"window": 0, "promotion": 0, "drift": 0, "rejection": 0, "expired": 0, "checkpoint": 0}
    for record in records:
        kind = record.get("event")
        events[kind] = events.get(kind, 0) + 1
        at = float(record.get("at", t0)) - t0
        if kind == "window":
            metric = window_metric(record)
            if metric is not None:
                summary.metric, value = metric
                model, n = str(record.get("model")), int(record.get("n", 1))
                summary.series.setdefault(model, []).append((at, value))
                if not model.endswith(":challenger"):
                    total = windows.setdefault(record.get("window"), [at, 0.0, 0])
                    total[1] += value * n
                    total[2] += n
        elif kind == "drift":
            summary.drifts.append(at)
        elif kind == "promotion":
            summary.promotions.append((at, str(record.get("version")), str(record.get("reason"))))
        elif kind == "rejection":
            summary.rejections.append((at, str(record.get("reason"))))
    summary.served = [(at, weighted / n) for at, weighted, n in windows.values() if n]
    summary.counts = {
        "metrics records": len(records),
        "windows": events["window"],
        "promotions": events["promotion"],
        "drifts": events["drift"],
        "rejections": events["rejection"],
        "expired": sum(int(r.get("n", 0)) for r in records if r.get("event") == "expired"),
    }
    summary.latency_samples = {stage: v for stage, v in run.latencies.items() if v}
    summary.latency = {stage: _percentiles(v) for stage, v in summary.latency_samples.items()}
    return summary
