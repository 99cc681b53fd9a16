"""Per-key window state: the key's recent events (its *log*) and the windows built from them.

The log is the state that is saved: plain JSON of ``[time_us, event_id, [field values]]`` for the events
inside the longest window, so loading it never needs pickle. ``KeyState.from_json`` rebuilds the river
objects by replaying the log in time order, which reaches the same window contents as the live run.

The log also makes updates idempotent: an event whose id is already in the log (a redelivery after a
crash between saving the state and acking the input) is not counted twice.

The log is bounded twice: by time (events older than the longest window are useless and dropped) and by
count, ``max_events`` per key (``window_max_events``). A hot key that reaches the maximum keeps its most
recent events: its oldest tenth is dropped (``KeyState.dropped`` says how many, the function counts them
in ``window_events_dropped``) and its windows are rebuilt from the rest, so its aggregates cover between
90 % and 100 % of ``max_events`` recent events, and a state saved and loaded again gives the same windows.

>>> from streamloop.worker.features.spec import parse_spec
>>> layout = WindowLayout([parse_spec({"name": "n", "kind": "window", "agg": "count", "window": 60}),
...                        parse_spec({"name": "avg", "kind": "window", "agg": "mean", "field": "x",
...                                    "window": 60})])
>>> state = layout.new_state()
>>> for i, (seconds, x) in enumerate([(0, 1.0), (30, 3.0), (30, 3.0)]):
...     _ = state.update(seconds * 1_000_000, f"e{i % 2}", layout.read({"x": x}))
>>> out = {}; layout.write(state, None, 30_000_000, out); out
{'n': 2.0, 'avg': 2.0}
>>> state.to_json()
'{"fields":["x"],"log":[[0,"e0",[1.0]],[30000000,"e1",[3.0]]]}'
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from orjson import dumps

from streamloop.worker.codec import BadMessage, finite_number
from streamloop.worker.features.spec import WindowFeature
from streamloop.worker.features.windows import EventTimeWindow

US = 1_000_000
MAX_EVENTS = 10_000  # per key, the default of ``window_max_events``
Entry = tuple[int, str, Sequence[float]]


def _time(entry: Entry) -> int:
    return entry[0]


def _encode(entry: Entry) -> bytes:
    """One log entry as ASCII JSON (non-ASCII ids escaped), so a saved log's length is its size in bytes."""
    data = dumps(entry)
    return data if data.isascii() else json.dumps(entry, separators=(",", ":")).encode()


class WindowLayout:
    """How the ``window`` specs of a config map onto per-key windows.

    One :class:`EventTimeWindow` per distinct ``(field, window)`` pair; a ``count`` reads any window of
    the same length (every accepted event enters every window). ``time_since_last`` needs only the key's
    latest time.
    """

    def __init__(self, specs: Sequence[WindowFeature], max_events: int = MAX_EVENTS) -> None:
        if max_events < 10:
            raise ValueError(f"max_events: at least 10, got {max_events}")
        self.max_events = max_events
        self.keep_events = max_events - max_events // 10  # what a key at the maximum keeps
        self.fields: tuple[str, ...] = tuple(dict.fromkeys(s.field for s in specs if s.field is not None))
        groups: dict[tuple[int | None, int], dict[str, bool]] = {}
        for spec in specs:
            if spec.field is not None:
                needs = groups.setdefault((self.fields.index(spec.field), _us(spec.window)), {})
                flag = {"sum": "sum", "std": "var", "min": "low", "max": "high"}.get(spec.agg)
                if flag:
                    needs[flag] = True
        for spec in specs:
            if spec.agg == "count" and not any(period == _us(spec.window) for _, period in groups):
                groups[(None, _us(spec.window))] = {}
        self._groups = list(groups.items())
        index = {key: i for i, (key, _) in enumerate(self._groups)}
        self._readers: list[tuple[str, int, Callable[[EventTimeWindow], float]]] = []
        self._gaps: list[tuple[str, float]] = []
        for spec in specs:
            if spec.agg == "time_since_last":
                self._gaps.append((spec.name, spec.window))
                continue
            period = _us(spec.window)
            if spec.agg == "count":
                i = next(i for (_, p), i in index.items() if p == period)
            else:
                i = index[(self.fields.index(spec.field), period)]  # type: ignore[arg-type]
            self._readers.append((spec.name, i, getattr(EventTimeWindow, spec.agg)))
        self.horizon_us = max(_us(spec.window) for spec in specs)
        fields = json.dumps(self.fields, separators=(",", ":")).encode()  # ASCII, like every entry
        self.json_prefix = b'{"fields":' + fields + b',"log":['
        self.group_fields = tuple(field for (field, _), _ in self._groups)

    def new_state(self) -> KeyState:
        """Empty state for a key never seen before."""
        return KeyState(self, [EventTimeWindow(period, **needs) for (_, period), needs in self._groups])

    def read(self, record: dict[str, Any]) -> tuple[float, ...]:
        """The event's values of the aggregated fields (all required)."""
        values = []
        for field in self.fields:
            value = record.get(field)
            if value is None:
                raise BadMessage(f"{field}: missing")
            values.append(finite_number(value, field))
        return tuple(values)

    def write(self, state: KeyState, previous_us: int | None, us: int, out: dict[str, float]) -> None:
        """Set the window features of the event at ``us`` (``previous_us``: the key's latest before it)."""
        windows = state.windows
        for name, i, aggregate in self._readers:
            out[name] = aggregate(windows[i])
        for name, cap in self._gaps:
            out[name] = cap if previous_us is None else min(max((us - previous_us) / US, 0.0), cap)


class KeyState:
    """One key's log and windows; ``update`` keeps both in step."""

    __slots__ = ("dropped", "encoded", "ids", "latest_us", "layout", "log", "windows")

    def __init__(self, layout: WindowLayout, windows: list[EventTimeWindow]) -> None:
        self.layout = layout
        self.windows = windows
        self.log: list[Entry] = []
        self.encoded: list[bytes] = []  # each log entry's JSON, encoded once: a flush only joins them
        self.ids: set[str] = set()
        self.latest_us: int | None = None
        self.dropped = 0  # events the latest update dropped because the key reached ``max_events``

    def update(self, us: int, event_id: str, values: Sequence[float]) -> int | None:
        """Add an event; return the key's latest time before it (``None`` for the key's first event).

        A repeated id, or an event older than the longest window, changes nothing. An event that takes the
        key past ``max_events`` drops the oldest events (see the module docstring).
        """
        self.dropped = 0
        previous = self.latest_us
        layout = self.layout
        if event_id in self.ids or (previous is not None and us <= previous - layout.horizon_us):
            return previous
        latest = us if previous is None or us > previous else previous
        self.latest_us = latest
        log = self.log
        entry = (us, event_id, values)
        if not log or us >= log[-1][0]:
            log.append(entry)
            self.encoded.append(_encode(entry))
        else:
            at = bisect_right(log, us, key=_time)
            log.insert(at, entry)
            self.encoded.insert(at, _encode(entry))
        self.ids.add(event_id)
        for window, field in zip(self.windows, layout.group_fields, strict=True):
            window.update(0.0 if field is None else values[field], us, latest)
        horizon = latest - layout.horizon_us
        if log[0][0] <= horizon:
            cut = bisect_right(log, horizon, key=_time)
            for _, old_id, _ in log[:cut]:
                self.ids.discard(old_id)
            del log[:cut]
            del self.encoded[:cut]
        if len(log) > layout.max_events:
            self._drop_oldest()
        return previous

    def _drop_oldest(self) -> None:
        """Keep the newest ``keep_events`` events, with windows rebuilt from them as a load would."""
        kept = self.layout.new_state()
        for us, event_id, values in self.log[len(self.log) - self.layout.keep_events :]:
            kept.update(us, event_id, values)
        self.dropped = len(self.log) - len(kept.log)
        self.windows, self.log, self.encoded, self.ids = kept.windows, kept.log, kept.encoded, kept.ids

    def to_json(self) -> str:
        """The saved form: the aggregated field names and the log (a ``str``, as ``put_state`` takes)."""
        return b"".join((self.layout.json_prefix, b",".join(self.encoded), b"]}")).decode()

    @classmethod
    def from_json(cls, layout: WindowLayout, data: bytes | str) -> KeyState:
        """Rebuild a key's state from :meth:`to_json` output; ``ValueError`` if it is for other fields."""
        saved = orjson.loads(data)
        if tuple(saved.get("fields", ())) != layout.fields:
            raise ValueError(
                f"saved for fields {saved.get('fields')}, the config aggregates {list(layout.fields)}"
            )
        state = layout.new_state()
        for us, event_id, values in saved["log"]:
            state.update(us, event_id, values)
        return state


def _us(seconds: float) -> int:
    return round(seconds * US)
