"""Saturated rates read from a ``functions stats`` series, and how long a backlog must be to read them well.

A run's series is ``(time, processedSuccessfullyTotal)``, one sample per stats call (about one a second on
a standalone). A backlog that drains within a few samples gives an interpolation, not a measurement, so
every saturated run is *sized by time*: a pilot on the natural inputs gives a rate and the sampling
interval, and the measured run's backlog is that rate times the seconds that hold :data:`MIN_SAMPLES`
samples (at least :data:`SATURATE_SECONDS`), bounded by :data:`MAX_BACKLOG` messages. Each measured rate
carries its sample count, span and spread, and is flagged ``suspect`` when it cannot be trusted.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from typing import Any

Series = Sequence[tuple[float, int]]  # (time.monotonic, messages processed so far)

SATURATE_SECONDS = 10.0  # the least a measured run's 10 %..90 % span should last
MAX_SATURATE_SECONDS = 30.0  # ... and the most it is sized for, however slow the sampling
MAX_BACKLOG = 400_000  # messages in one measured backlog, at most
MIN_SAMPLES = 20  # fewer stats samples inside the span: the rate is flagged
WINDOW_SECONDS = 1.0  # the windows the spread is taken over
LOW, HIGH = 0.1, 0.9  # the span a rate is read over: start-up and the tail are left out


def crossing(series: Series, level: float) -> float | None:
    """When the processed count reached ``level``, interpolated between the samples around it.

    >>> crossing([(0.0, 0), (2.0, 100)], 50)
    1.0
    """
    for (t0, n0), (t1, n1) in itertools.pairwise(series):
        if n0 < level <= n1:
            return t0 + (t1 - t0) * (level - n0) / (n1 - n0)
    return None


def count_at(series: Series, moment: float) -> float:
    """The processed count at ``moment``, interpolated (the first or last sample's outside the series).

    >>> count_at([(0.0, 0), (2.0, 100)], 0.5)
    25.0
    """
    if moment <= series[0][0]:
        return float(series[0][1])
    for (t0, n0), (t1, n1) in itertools.pairwise(series):
        if t0 <= moment <= t1:
            return n0 + (n1 - n0) * (moment - t0) / (t1 - t0) if t1 > t0 else float(n1)
    return float(series[-1][1])


def steady_rate(series: Series, count: int) -> float:
    """Messages/s between the moments 10% and 90% of ``count`` were processed (interpolated), NaN if the
    series never got there. Start-up comes before the first progress, so it is not counted."""
    low, high = crossing(series, LOW * count), crossing(series, HIGH * count)
    if low is None or high is None or high <= low:
        return float("nan")
    return (HIGH - LOW) * count / (high - low)


def spread(rates: Sequence[float]) -> float | None:
    """``(p90 - p10) / median`` of window rates; ``None`` under two windows or a zero median.

    >>> spread([90.0, 100.0, 110.0])
    0.16
    """
    if len(rates) < 2 or not statistics.median(rates):
        return None
    deciles = statistics.quantiles(rates, n=10, method="inclusive")
    return round((deciles[-1] - deciles[0]) / statistics.median(rates), 3)


def window_rates(series: Series, start: float, end: float, window: float = WINDOW_SECONDS) -> list[float]:
    """The rate over each whole ``window`` of seconds from ``start`` to ``end``."""
    edges = [start + i * window for i in range(int((end - start) / window) + 1)]
    counts = [count_at(series, edge) for edge in edges]
    return [(b - a) / window for a, b in itertools.pairwise(counts)]


def measured(series: Series, count: int) -> dict[str, Any]:
    """A saturated run's rate with what it rests on: ``events_per_s`` (NaN: never got to 90 %), ``samples``
    (stats samples inside the 10 %..90 % span), ``seconds`` (the span), ``spread``, ``messages`` and
    ``sampling_s`` (:func:`sampling_interval`)."""
    low, high = crossing(series, LOW * count), crossing(series, HIGH * count)
    interval = round(sampling_interval(series), 3)
    if low is None or high is None or high <= low:
        return {
            "events_per_s": float("nan"),
            "samples": 0,
            "seconds": 0.0,
            "spread": None,
            "messages": count,
            "sampling_s": interval,
        }
    return {
        "events_per_s": round((HIGH - LOW) * count / (high - low), 1),
        "samples": sum(1 for t, _ in series if low <= t <= high),
        "seconds": round(high - low, 2),
        "spread": spread(window_rates(series, low, high)),
        "messages": count,
        "sampling_s": interval,
    }


def sampling_interval(series: Series) -> float:
    """The median seconds between two stats samples (1.0 with fewer than two).

    >>> sampling_interval([(0.0, 0), (0.5, 1), (1.5, 2), (2.0, 3)])
    0.5
    """
    gaps = [t1 - t0 for (t0, _), (t1, _) in itertools.pairwise(series)]
    return statistics.median(gaps) if gaps else 1.0


def seconds_for(interval: float) -> float:
    """How long a measured span should last to hold :data:`MIN_SAMPLES` samples taken every ``interval`` s.

    >>> seconds_for(0.2), seconds_for(1.0), seconds_for(5.0)
    (10.0, 20.0, 30.0)
    """
    return min(max(SATURATE_SECONDS, MIN_SAMPLES * interval), MAX_SATURATE_SECONDS)


def repeats(rate: float, natural: int, seconds: float, ceiling: float | None = None) -> int:
    """How many times to repeat ``natural`` messages so a run at ``rate`` lasts ``seconds`` over its span.

    ``ceiling`` (the bare client loop's rate) bounds ``rate``: a pilot too short to be read may claim more.
    At least once, and never more than :data:`MAX_BACKLOG` messages (unless the natural inputs are).

    >>> repeats(5000.0, 10_000, 10.0), repeats(float("nan"), 10_000, 10.0, ceiling=16_000.0)
    (7, 20)
    >>> repeats(1e9, 10_000, 10.0)
    40
    """
    if ceiling is not None and not (rate <= ceiling):  # NaN: the pilot never finished, size for the ceiling
        rate = ceiling
    if not math.isfinite(rate) or rate <= 0:
        return 1
    wanted = math.ceil(rate * seconds / (HIGH - LOW) / natural)
    return max(1, min(wanted, MAX_BACKLOG // natural))


def flagged(rate: dict[str, Any], bare: float | None) -> dict[str, Any]:
    """``rate`` (a :func:`measured` dict) with ``suspect`` saying why it cannot be trusted, if it cannot:
    faster than the bare pulsar-client loop ``bare`` of the same run, or read over too few samples.

    >>> flagged({"events_per_s": 40_000.0, "samples": 3}, 16_000.0)["suspect"]
    'faster than the bare client loop (16,000 msg/s); 3 stats samples (< 20)'
    >>> "suspect" in flagged({"events_per_s": 9_000.0, "samples": 25}, 16_000.0)
    False
    """
    reasons = []
    value = rate["events_per_s"]
    if bare and math.isfinite(value) and value > bare:
        reasons.append(f"faster than the bare client loop ({bare:,.0f} msg/s)")
    if math.isfinite(value) and rate["samples"] < MIN_SAMPLES:
        reasons.append(f"{rate['samples']} stats samples (< {MIN_SAMPLES})")
    return {**rate, "suspect": "; ".join(reasons)} if reasons else dict(rate)


def combined(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Several runs of one measurement as one: the median rate, the fewest samples, the shortest span, the
    widest spread, and every distinct ``suspect`` reason.

    >>> combined([{"events_per_s": 10.0, "samples": 30, "seconds": 9.0, "spread": 0.1},
    ...           {"events_per_s": 30.0, "samples": 4, "seconds": 1.0, "spread": None, "suspect": "few"}])
    {'events_per_s': 20.0, 'samples': 4, 'seconds': 1.0, 'spread': 0.1, 'suspect': 'few'}
    """
    spreads = [r["spread"] for r in runs if r.get("spread") is not None]
    out: dict[str, Any] = {
        "events_per_s": round(statistics.median(r["events_per_s"] for r in runs), 1),
        "samples": min(r["samples"] for r in runs),
        "seconds": min(r["seconds"] for r in runs),
        "spread": max(spreads) if spreads else None,
    }
    reasons = list(dict.fromkeys(r["suspect"] for r in runs if r.get("suspect")))
    return {**out, "suspect": "; ".join(reasons)} if reasons else out
