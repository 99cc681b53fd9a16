"""Rebuild a training set from the whole ``events`` history: source | rebuild | sink.

Pulsar keeps ``events`` and ``labels`` (retention, tiered storage), so when a feature definition changes
the features are recomputed from the first event, with the code the ``features`` function runs:

- **source** — :func:`read_topic`: every message of a topic from the earliest, through a Reader (on a
  broker, offloaded ledgers are read transparently), up to the last one there when it caught up;
- **rebuild** — :func:`rebuild`, pure: events parsed as the features function parses them
  (:func:`~streamloop.worker.messages.read_event`, the spec's id/key/time fields, ``max_record_bytes``),
  a malformed one counted and skipped with its reason as the function would dead-letter it; features
  :func:`~streamloop.tools.history.point_in_time`; labels read as the joiner reads them
  (:func:`~streamloop.worker.messages.read_label`) and joined by event id, first copy winning, with no TTL;
- **sink** — the examples, in the events' arrival order and the joiner's shape (``y_pred``, ``proba`` and
  ``model`` are ``null``: no model served them), to a JSON Lines file (``write_jsonl``) or to a topic,
  keyed by event id (:func:`publish_examples`).

Memory: every well-formed event's fields and features, and every label, are held until the join, so about
the size of the history as JSON (sort one key at a time; time O(n log n)).

>>> from streamloop.runtime.memory import MemoryClient
>>> from streamloop.worker.features.config import FeaturesConfig
>>> config = FeaturesConfig.model_validate(
...     {"features": [{"name": "n", "kind": "window", "agg": "count", "window": 3600}]})
>>> client = MemoryClient()
>>> events = client.create_producer("events")
>>> for payload in [b'{"id": "e1", "key": "u1", "ts": 0}', b'{"id": "e2", "key": "u1", "ts": 120}',
...                 b'{"id": "e3", "key": "u1", "ts": 60}', b'{"id": "e4", "key": "u1"}']:
...     _ = events.send(payload)
>>> _ = client.create_producer("labels").send(b'{"id": "e3", "label": true}')
>>> result = rebuild(read_topic(client, "events"), read_topic(client, "labels"), config)
>>> result.examples
[{'id': 'e3', 'ts': 60.0, 'x': {'n': 2.0}, 'y': True, 'y_pred': None, 'proba': None, 'model': None}]
>>> print(result.summary())  # doctest: +NORMALIZE_WHITESPACE
read 4 events (1 malformed, skipped) and 1 labels: 1 labelled examples, 2 unlabelled events,
0 labels without an event
>>> result.malformed
[Skipped(message_id='(0,3,-1,-1)', reason='ts: missing, and the message has no event time')]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pulsar

from streamloop.tools.history import Event, point_in_time
from streamloop.worker.codec import BadMessage, encode
from streamloop.worker.features.config import FeaturesConfig
from streamloop.worker.features.featurizer import Featurizer
from streamloop.worker.messages import (
    Example,
    Label,
    example_record,
    features_record,
    prediction_record,
    read_event,
    read_label,
)

_OK = pulsar.Result.Ok


class Inbound(NamedTuple):
    """What the rebuild needs of one message."""

    payload: bytes
    key: str
    event_time_ms: int
    message_id: str


class Skipped(NamedTuple):
    """A message the live function would have dead-lettered, and why."""

    message_id: str
    reason: str


@dataclass
class Rebuilt:
    """The examples of a rebuild and what it read."""

    examples: list[Example]
    feature_names: list[str]
    events: int = 0
    labels: int = 0
    malformed: list[Skipped] = field(default_factory=list)
    malformed_labels: list[Skipped] = field(default_factory=list)
    duplicate_events: int = 0
    unlabelled: int = 0
    orphan_labels: int = 0

    def summary(self) -> str:
        """One line: events read, malformed skipped, examples, unlabelled events, labels without events."""
        bad_labels = f", {len(self.malformed_labels)} malformed" if self.malformed_labels else ""
        copies = f", {self.duplicate_events} repeated ids" if self.duplicate_events else ""
        return (
            f"read {self.events} events ({len(self.malformed)} malformed, skipped{copies}) and "
            f"{self.labels} labels{bad_labels}: {len(self.examples)} labelled examples, "
            f"{self.unlabelled} unlabelled events, {self.orphan_labels} labels without an event"
        )


# -- source ---------------------------------------------------------------------------------------------
def read_topic(client: Any, topic: str, timeout_millis: int = 30_000) -> Iterator[Inbound]:
    """Every message of ``topic`` from the earliest, through a Reader, until it has caught up."""
    reader = client.create_reader(topic, pulsar.MessageId.earliest)
    try:
        while reader.has_message_available():
            message = reader.read_next(timeout_millis=timeout_millis)
            yield Inbound(
                message.data(), message.partition_key(), message.event_timestamp(), str(message.message_id())
            )
    finally:
        reader.close()


# -- rebuild --------------------------------------------------------------------------------------------
def rebuild(
    events: Iterable[Inbound],
    labels: Iterable[Inbound],
    config: FeaturesConfig,
    label_field: str = "label",
    on_featurized: Callable[[int], None] | None = None,
) -> Rebuilt:
    """Recompute the features of ``events`` with ``config``, point in time, and join ``labels`` by event id.

    ``on_featurized(n)`` is called as events are featurized (for a progress bar).
    """
    featurizer = Featurizer(config.features, config.window_max_events)
    result = Rebuilt(examples=[], feature_names=featurizer.feature_names)
    parsed, message_ids = _read_events(events, config, result)
    by_id = _read_labels(labels, label_field, result)
    features: list[dict[str, float] | None] = [None] * len(parsed)
    for index, x in point_in_time(parsed, featurizer):
        if isinstance(x, BadMessage):
            result.malformed.append(Skipped(message_ids[index], str(x)))
        else:
            features[index] = x
        if on_featurized is not None:
            on_featurized(1)
    for event, x in zip(parsed, features, strict=True):
        if x is None:
            continue
        label = by_id.pop(event.id, None)
        if label is None:
            result.unlabelled += 1
            continue
        prediction = prediction_record(features_record(event.id, event.key, event.ts, x), None, None, None)
        result.examples.append(example_record(prediction, label))
    result.orphan_labels = len(by_id)
    return result


def _read_events(
    events: Iterable[Inbound], config: FeaturesConfig, result: Rebuilt
) -> tuple[list[Event], list[str]]:
    """The well-formed events (first copy of each id) and their message ids, in arrival order."""
    fields = (config.id_field, config.key_field, config.time_field)
    limit = config.max_record_bytes
    parsed: list[Event] = []
    message_ids: list[str] = []
    seen: set[str] = set()
    for message in events:
        result.events += 1
        try:
            if len(message.payload) > limit:
                raise BadMessage(f"payload: {len(message.payload)} bytes, over max_record_bytes {limit}")
            event = Event(*read_event(message.payload, fields, message.key, message.event_time_ms))
        except BadMessage as error:
            result.malformed.append(Skipped(message.message_id, str(error)))
            continue
        if event.id in seen:  # a redelivered or resent copy: the joiner keeps the first
            result.duplicate_events += 1
            continue
        seen.add(event.id)
        parsed.append(event)
        message_ids.append(message.message_id)
    return parsed, message_ids


def _read_labels(labels: Iterable[Inbound], label_field: str, result: Rebuilt) -> dict[str, Label]:
    """Labels by event id, the first copy of each, as the joiner reads them."""
    by_id: dict[str, Label] = {}
    for message in labels:
        result.labels += 1
        try:
            label = read_label(message.payload, label_field)
        except BadMessage as error:
            result.malformed_labels.append(Skipped(message.message_id, str(error)))
            continue
        by_id.setdefault(label["id"], label)
    return by_id


# -- sink -----------------------------------------------------------------------------------------------
def publish_examples(client: Any, topic: str, examples: Iterable[Example]) -> int:
    """Send ``examples`` to ``topic`` keyed by event id, as the joiner does; the count once all are stored."""
    producer = client.create_producer(topic, block_if_queue_full=True)
    failures: list[Any] = []

    def confirmed(result: Any, message_id: Any) -> None:
        if result != _OK:
            failures.append(result)  # raising on the client's thread would kill the process

    sent = 0
    for example in examples:
        producer.send_async(encode(example), confirmed, partition_key=example["id"])
        sent += 1
    producer.flush()
    producer.close()
    if failures:
        raise RuntimeError(
            f"rebuild: {len(failures)} of {sent} sends to {topic} failed, first: {failures[0]}"
        )
    return sent
