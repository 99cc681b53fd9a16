"""Typed reads of raw event fields; anything unusable is a ``BadMessage`` that names the field.

>>> number(2, "amount"), timestamp("2026-01-01T01:00:00Z", "ts"), timestamp(1.5, "ts")
(2.0, 1767229200.0, 1.5)
>>> number(True, "amount")
Traceback (most recent call last):
...
streamloop.worker.codec.BadMessage: amount: expected a finite number, got bool
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

from streamloop.worker.codec import BadMessage

# datetime's range (years 1..9999): window state converts event times to datetimes.
MIN_TS = datetime(1, 1, 2, tzinfo=timezone.utc).timestamp()
MAX_TS = datetime(9999, 12, 30, tzinfo=timezone.utc).timestamp()


def number(value: Any, field: str) -> float:
    """A finite int or float (never a bool) as a float."""
    kind = type(value)
    if kind is float:
        if math.isfinite(value):
            return value
        raise BadMessage(f"{field}: expected a finite number, got {value!r}")
    if kind is int:
        return float(value)
    raise BadMessage(f"{field}: expected a finite number, got {kind.__name__}")


def timestamp(value: Any, field: str) -> float:
    """Epoch seconds from a number or an ISO-8601 string (a naive time is UTC)."""
    if type(value) is str:
        text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value  # Python 3.10 needs this
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise BadMessage(f"{field}: expected epoch seconds or an ISO-8601 time, got {value!r}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    seconds = number(value, field)
    if not MIN_TS <= seconds <= MAX_TS:
        raise BadMessage(f"{field}: {seconds!r} is out of range for epoch seconds")
    return seconds


def event_time(record: dict[str, Any], field: str, message_event_time_ms: int) -> float:
    """The event time in epoch seconds: the ``field`` value, else the message's event time.

    An event with neither is a bad message: window aggregates need event time, and the wall clock would
    make a replay compute different features.

    >>> event_time({"ts": "2026-01-01T00:00:00"}, "ts", 0), event_time({}, "ts", 1_500)
    (1767225600.0, 1.5)
    """
    value = record.get(field)
    if value is not None:
        return timestamp(value, field)
    if message_event_time_ms > 0:
        return message_event_time_ms / 1000.0
    raise BadMessage(f"{field}: missing, and the message has no event time")


def entity_key(record: dict[str, Any], field: str, message_key: str) -> str:
    """The entity key: the ``field`` value (a string or integer), else the message key, else ``""``.

    >>> entity_key({"user": 42}, "user", "m"), entity_key({}, "user", "m"), entity_key({}, "user", "")
    ('42', 'm', '')
    """
    value = record.get(field)
    if value is None or value == "":
        return message_key
    kind = type(value)
    if kind is str:
        return value
    if kind is int:
        return str(value)
    raise BadMessage(f"{field}: expected a string or integer key, got {kind.__name__}")
