"""Event-time window aggregates of one key: river ``stats`` under ``utils.TimeRolling``, plus min/max.

Times are integer microseconds since the epoch (the resolution of the ``datetime`` that ``TimeRolling``
takes), so every window boundary test is exact and a replay from saved state decides exactly as the live
run did. A window holds the events with a time in ``(latest - period, latest]``; an event that arrives
out of order is added if it falls inside that range and ignored if it is older (``TimeRolling`` would
count it until the next newer event, then drop it).

>>> window = EventTimeWindow(period_us=10_000_000, sum=True, var=True, low=True, high=True)
>>> latest = 0
>>> for seconds, x in [(0, 1.0), (4, 5.0), (8, 3.0), (2, 9.0), (12, 2.0)]:
...     latest = max(latest, seconds * 1_000_000)
...     window.update(x, seconds * 1_000_000, latest)
>>> window.count(), window.sum(), window.mean(), window.min(), window.max()
(3.0, 10.0, 3.3333333333333335, 2.0, 5.0)
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import deque
from datetime import datetime, timedelta

from river import stats, utils

EPOCH = datetime(1970, 1, 1)  # naive, like TimeRolling's initial ``_latest``


def as_datetime(us: int) -> datetime:
    """Naive UTC datetime of epoch microseconds (what ``utils.TimeRolling`` compares)."""
    return EPOCH + timedelta(microseconds=us)


class WindowStats:
    """The revertable river stats one window needs, updated and reverted together.

    ``TimeRolling`` wraps any object with ``update``/``revert``; one ``WindowStats`` per window means one
    copy of the window's contents however many aggregates read it. The count is the ``n`` of the
    ``stats.Mean`` (``stats.Count`` has no ``revert``); ``std`` is the square root of ``stats.Var``
    with ``ddof=0`` (population: 0 for a single event).
    """

    __slots__ = ("mean", "total", "var")

    def __init__(self, sum: bool = False, var: bool = False) -> None:
        self.var = stats.Var(ddof=0) if var else None
        self.mean = self.var.mean if self.var is not None else stats.Mean()
        self.total = stats.Sum() if sum else None

    def update(self, x: float) -> None:
        (self.var or self.mean).update(x)
        if self.total is not None:
            self.total.update(x)

    def revert(self, x: float) -> None:
        (self.var or self.mean).revert(x)
        if self.total is not None:
            self.total.revert(x)


class ExtremumWindow:
    """Maximum (or minimum) over an event-time window, as a monotonic deque.

    river has no revertable min/max for ``TimeRolling`` (``stats.Min``/``Max`` cannot revert and
    ``stats.RollingMax`` counts events, not time). The deque keeps only the events that can still become
    the extremum: times increasing, values strictly decreasing (negated for a minimum). An in-order event
    costs O(1) amortised; a late one is inserted at its time, dropped if a newer event already beats it.

    >>> high = ExtremumWindow(period_us=10)
    >>> latest = 0
    >>> for t, x in [(0, 5.0), (3, 2.0), (1, 4.0), (12, 1.0)]:
    ...     latest = max(latest, t)
    ...     high.update(x, t, latest)
    >>> high.get()  # 5.0 at t=0 and 4.0 at t=1 expired at t=12 (window (2, 12])
    2.0
    """

    __slots__ = ("_period", "_sign", "_times", "_values")

    def __init__(self, period_us: int, minimum: bool = False) -> None:
        self._period = period_us
        self._sign = -1.0 if minimum else 1.0
        self._times: deque[int] = deque()
        self._values: deque[float] = deque()

    def update(self, x: float, us: int, latest_us: int) -> None:
        """Add ``x`` at time ``us`` (inside the window), then expire what ``latest_us`` pushed out."""
        v = x * self._sign
        times, values = self._times, self._values
        if not times or us >= times[-1]:
            while values and values[-1] <= v:
                times.pop()
                values.pop()
            times.append(us)
            values.append(v)
        else:
            i = bisect_left(times, us)
            if values[i] >= v:  # an event at least as new is at least as large: x can never win
                return
            while i > 0 and values[i - 1] <= v:
                i -= 1
                del times[i]
                del values[i]
            times.insert(i, us)
            values.insert(i, v)
        horizon = latest_us - self._period
        while times[0] <= horizon:
            times.popleft()
            values.popleft()

    def get(self) -> float:
        return self._values[0] * self._sign if self._values else 0.0


class EventTimeWindow:
    """Every aggregate of one ``(field, window)`` pair for one key.

    ``update`` receives the key's ``latest`` time after this event; an event at or before
    ``latest - period`` is ignored.
    """

    __slots__ = ("_high", "_low", "_period", "_rolling", "_stats")

    def __init__(
        self,
        period_us: int,
        sum: bool = False,
        var: bool = False,
        low: bool = False,
        high: bool = False,
    ) -> None:
        self._period = period_us
        self._rolling = utils.TimeRolling(
            WindowStats, period=timedelta(microseconds=period_us), sum=sum, var=var
        )
        self._stats: WindowStats = self._rolling.obj
        self._low = ExtremumWindow(period_us, minimum=True) if low else None
        self._high = ExtremumWindow(period_us) if high else None

    def update(self, x: float, us: int, latest_us: int) -> None:
        if us <= latest_us - self._period:
            return
        self._rolling.update(x, t=as_datetime(us))
        if self._low is not None:
            self._low.update(x, us, latest_us)
        if self._high is not None:
            self._high.update(x, us, latest_us)

    def count(self) -> float:
        return float(self._stats.mean.n)

    def sum(self) -> float:
        return self._stats.total.get()  # type: ignore[union-attr]

    def mean(self) -> float:
        return self._stats.mean.get()

    def std(self) -> float:
        """Population std; exactly 0 for one event (reverts can leave a rounding residue in the sum)."""
        if self._stats.mean.n <= 1:
            return 0.0
        return math.sqrt(max(self._stats.var.get(), 0.0))  # type: ignore[union-attr]

    def min(self) -> float:
        return self._low.get()  # type: ignore[union-attr]

    def max(self) -> float:
        return self._high.get()  # type: ignore[union-attr]
