"""The bad-input corpus: malformed events and labels mixed into a good labelled stream.

Every bad item says where it must end up: a dead letter from a given function whose ``error`` names a
field, an expiry (a label whose event never existed), or a duplicate that is processed once. The same
corpus drives the embedded runner and the deployed functions, so both must give the same outcome.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from streamloop.tools.demo import T0, drifting_stream

MAX_MESSAGE_BYTES = 5 * 1024 * 1024  # the broker's default maxMessageSize
HUGE_BYTES = MAX_MESSAGE_BYTES - 64 * 1024  # just under it: room for the dead letter's properties
LABEL_DELAY = 20  # labels follow their event this many events later
UNLABELLED_EVERY = 10  # every 10th good event never gets a label: its prediction expires
SENTINEL_TS = T0 + 1_000_000  # a last event far in the future: its watermark expires whatever is pending


@dataclass(frozen=True)
class Item:
    """One message of the corpus and its expected fate.

    ``outcome`` is ``good``, ``dead`` (``function`` dead-letters it with ``field`` in the reason),
    ``expired`` or ``duplicate``.
    """

    name: str
    kind: str  # "event" or "label"
    payload: bytes
    key: str
    outcome: str = "good"
    function: str = ""
    field: str = ""


def _json(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record)


def _event(i: int, **changes: Any) -> dict[str, Any]:
    """A well-formed event at position ``i`` (id ``bad-<i>``), with ``changes`` applied (None deletes)."""
    event = {"id": f"bad-{i}", "key": "user-bad", "ts": T0 + i, "x0": 0.5, "x1": 0.5, "channel": "web"}
    for name, value in changes.items():
        if value is None:
            event.pop(name, None)
        else:
            event[name] = value
    return event


def bad_events(at: int) -> list[Item]:
    """Malformed events; ``at`` gives them event times inside the good stream."""

    def dead(name: str, payload: bytes, field: str) -> Item:
        return Item(name, "event", payload, "user-bad", "dead", "features", field)

    raw = b'{"id": "bad-nan", "key": "user-bad", "ts": %d, "x0": 0.5, "x1": %s, "channel": "web"}'
    return [
        dead("invalid JSON", b'{"id": "bad-json", "x0": ', "payload"),
        dead("not an object", b'["bad-array", 1]', "payload"),
        dead("missing id", _json(_event(at, id=None)), "id"),
        dead("empty id", _json(_event(at, id="")), "id"),
        dead("id of a wrong type", _json(_event(at, id=["x"])), "id"),
        dead("number as a string", _json(_event(at, x0="0.5")), "x0"),
        dead("number as a bool", _json(_event(at, x1=True)), "x1"),
        dead("missing number", _json(_event(at, x0=None)), "x0"),
        dead("time as words", _json(_event(at, ts="yesterday")), "ts"),
        dead("key as an object", _json(_event(at, key={"a": 1})), "key"),
        dead("NaN literal", raw % (T0 + at, b"NaN"), "x1"),
        dead("Infinity literal", raw % (T0 + at, b"-Infinity"), "x1"),
        dead("overflowing number", raw % (T0 + at, b"1e999"), "x1"),
        dead("unknown category", _json(_event(at, channel="fax")), "channel"),
        dead("category as a number list", _json(_event(at, channel=[1])), "channel"),
        dead("invalid UTF-8", _json(_event(at))[:-8] + b'"w\xffb"}', "payload"),
        dead("5 MB payload", _json(_event(at, x0="9" * HUGE_BYTES)), "payload"),  # over max_record_bytes
    ]


def bad_labels(wrong_class: str, duplicate: dict[str, Any]) -> list[Item]:
    """Malformed labels: one replaces the label of event ``wrong_class``, one repeats ``duplicate``."""

    def dead(name: str, payload: bytes, field: str) -> Item:
        return Item(name, "label", payload, "", "dead", "joiner", field)

    return [
        dead("label: invalid JSON", b'{"id": "bad-label", "label": tr', "payload"),
        dead("label: not an object", b'"bad-label"', "payload"),
        dead("label: missing id", _json({"label": True, "ts": T0}), "id"),
        dead("label: empty id", _json({"id": "", "label": True, "ts": T0}), "id"),
        dead("label: id of a wrong type", _json({"id": 1.5, "label": True, "ts": T0}), "id"),
        dead("label: missing label", _json({"id": "no-label", "ts": T0}), "label"),
        dead("label: null label", _json({"id": "null-label", "label": None, "ts": T0}), "label"),
        dead("label: time as words", _json({"id": "words-ts", "label": True, "ts": "soon"}), "ts"),
        dead("label: NaN time", b'{"id": "nan-ts", "label": true, "ts": NaN}', "ts"),
        dead("label: time in milliseconds", _json({"id": "ms-ts", "label": True, "ts": T0 * 1000}), "ts"),
        dead("label: invalid UTF-8", b'{"id": "\xff", "label": true}', "payload"),
        Item(
            "label: not a class",
            "label",
            _json({"id": wrong_class, "label": "maybe", "ts": T0}),
            wrong_class,
            "dead",
            "learner",
            "y",
        ),
        Item(
            "label: unknown id", "label", _json({"id": "ghost", "label": True, "ts": T0}), "ghost", "expired"
        ),
        Item("label: duplicate", "label", _json(duplicate), duplicate["id"], "duplicate"),
    ]


@dataclass
class Corpus:
    """The messages in send order, and what the books must say afterwards."""

    items: list[Item]
    sentinel: list[Item]

    @property
    def bad(self) -> list[Item]:
        return [i for i in self.items if i.outcome != "good"]

    def count(self, kind: str, outcome: str | None = None) -> int:
        return sum(1 for i in self.items + self.sentinel if i.kind == kind and outcome in (None, i.outcome))


def build(n_good: int = 300, seed: int = 7, bad: bool = True) -> Corpus:
    """``n_good`` good events (labels ``LABEL_DELAY`` events later) with the bad items spread among them.

    A good event is also sent twice (a duplicate id), and the sentinel (sent last, after the rest has
    settled) moves the joiner's watermark past every TTL so nothing is left pending.
    """
    pairs = list(drifting_stream(n_good, n_good * 10, seed=seed))
    labelled = [label for i, (_, label) in enumerate(pairs) if i % UNLABELLED_EVERY]
    events = bad_events(at=n_good // 3) if bad else []
    labels = bad_labels(labelled[5]["id"], labelled[6]) if bad else []
    replaced = {labelled[5]["id"]} if bad else set()  # its good label is swapped for one that is not a class
    items: list[Item] = []
    waiting: list[Item] = []
    for i, (event, label) in enumerate(pairs):
        items.append(Item(f"event {event['id']}", "event", _json(event), event["key"]))
        if i == n_good // 2 and bad:
            items.append(Item("duplicate event", "event", _json(event), event["key"], "duplicate"))
        if i % UNLABELLED_EVERY and label["id"] not in replaced:
            waiting.append(Item(f"label {label['id']}", "label", _json(label), label["id"]))
        if len(waiting) > LABEL_DELAY:
            items.append(waiting.pop(0))
        if i % 10 == 3 and events:
            items.append(events.pop(0))
        if i % 10 == 7 and labels and i > 3 * LABEL_DELAY:
            items.append(labels.pop(0))
    items += events + waiting + labels
    sentinel_event = {"id": "sentinel", "key": "user-00", "ts": SENTINEL_TS, "x0": 0.5, "x1": 0.5}
    sentinel = [
        Item("sentinel event", "event", _json({**sentinel_event, "channel": "app"}), "user-00"),
        Item("sentinel label", "label", _json({"id": "sentinel", "label": True}), "sentinel"),
    ]
    return Corpus(items, sentinel)


def sends(items: list[Item]) -> Iterator[tuple[str, str, bytes]]:
    """``(kind, key, payload)`` in order."""
    for item in items:
        yield item.kind, item.key, item.payload
