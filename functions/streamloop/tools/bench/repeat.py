"""Inputs repeated as fresh messages: each copy's ids prefixed and its event times shifted.

A backlog longer than the embedded run that made the inputs, and the loop's phases, both need messages
that no function has seen: a copy of an event, features record, prediction, label or example with the
same id would be a duplicate (the learner drops it, the joiner joins it once), and one with the same
time would fall in windows already closed. The copies of one round share a prefix and a shift, so a
prediction and its label still match, and a message keyed by its own id stays keyed by its new id.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence

import orjson

from streamloop.tools.bench.pulsar_io import Produced


def renamed(message: Produced, prefix: str, shift: float) -> Produced:
    """``message`` with its id ``<prefix>-<id>``, its ``ts`` moved ``shift`` seconds on, and (if it was
    keyed by its id) keyed by the new id.

    >>> renamed(("e1", b'{"id":"e1","ts":10.0}', {}), "r1", 5.0)
    ('r1-e1', b'{"id":"r1-e1","ts":15.0}', {})
    >>> renamed(("k", b'{"id":"e1"}', {}), "r1", 5.0)[:2]
    ('k', b'{"id":"r1-e1"}')
    """
    key, payload, properties = message
    record = orjson.loads(payload)
    old = record["id"]
    record["id"] = f"{prefix}-{old}"
    if isinstance(record.get("ts"), (int, float)):
        record["ts"] += shift
    return record["id"] if key == old else key, orjson.dumps(record), properties


def period(inputs: Iterable[Sequence[Produced]]) -> float:
    """Seconds one round of ``inputs`` (JSON records) covers, their ``ts`` span plus one: the shift between
    rounds, so the repeated stream goes on in time like a longer one.

    >>> period([[("k", b'{"id":"a","ts":100.0}', {}), ("k", b'{"id":"b","ts":110.5}', {})]])
    12.0
    """
    times = []
    for messages in inputs:
        for _, payload, _ in messages:
            ts = orjson.loads(payload).get("ts")
            if isinstance(ts, (int, float)) and math.isfinite(ts):
                times.append(ts)
    return float(math.ceil(max(times) - min(times)) + 1) if times else 1.0


def repeated(messages: Sequence[Produced], times: int, shift: float) -> Iterator[Produced]:
    """``messages`` ``times`` times over, round ``r`` prefixed ``r<r>`` and shifted ``r × shift`` s.

    >>> [m[0] for m in repeated([("e1", b'{"id":"e1"}', {})], 2, 1.0)]
    ['r0-e1', 'r1-e1']
    """
    for r in range(times):
        for message in messages:
            yield renamed(message, f"r{r}", r * shift)
