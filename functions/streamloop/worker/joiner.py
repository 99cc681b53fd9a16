"""The joiner: predictions ⋈ labels by event id, in either order, into training examples.

The pending set lives in Pulsar, not in a side store: a prediction or label waiting for its other half is
simply **not acked yet** (``Delivery.hold``). After a crash Pulsar redelivers every unacked message and
the pending set rebuilds itself. In memory the joiner keeps, per pending half, only what the example needs
(a label's value; a prediction's ``ts``, ``x``, ``y_pred``, ``proba`` and ``model``) and what acks it.

Event time: the joiner's clock is the largest record time seen on either input (``ts``, else the message's
event time), so replays expire the same items. A record more than ``max_clock_skew_seconds`` ahead of the
wall clock is dead-lettered, so one record cannot move event time far enough to expire the pending set. A
record without a time takes the joiner's event time when it arrives (before any time has been seen: the
first one seen). Both sides expire after ``ttl_seconds`` of event time; expiries are published to
``metrics`` with their ids, which acks them, so nothing is dropped silently.

Limits: the pending set is bounded by ``max_pending`` (the oldest item is expired early when it is full).
Keep it below the broker's ``maxUnackedMessagesPerConsumer`` (50,000 by default) — past that the broker
stops dispatching and the watermark can no longer advance. Pending items ≈ event rate × label delay.
Inputs are matched to their side by base topic, so partitioned topics (``...-partition-N``) work.
Run one instance (``streamloop validate`` refuses more): Pulsar's Python runtime subscribes to each input
on its own under a random consumer name, so Key_Shared on the event id would send a pair's two halves to
different instances (measured on the cluster: docs/production.md). One instance reads every partition.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from typing import Any, NamedTuple

from pydantic import Field

from streamloop.worker.checkcases import joiner_case
from streamloop.worker.codec import BadMessage, encode
from streamloop.worker.config import UserConfig, base_topic, topic
from streamloop.worker.function import Delivery, StreamFunction
from streamloop.worker.messages import (
    Label,
    Prediction,
    example_record,
    expired_event,
    read_label,
    read_prediction,
)


class JoinerConfig(UserConfig):
    predictions_topic: str = topic("predictions")
    """The input topic that carries predictions (the other input carries labels)."""
    labels_topic: str = topic("labels")
    """The input topic that carries labels."""
    label_field: str = "label"
    """The field of a label record that holds the label value."""
    ttl_seconds: float = Field(3600.0, gt=0)
    """Event-time seconds a prediction waits for its label (and a label for its prediction)."""
    max_clock_skew_seconds: float = Field(300.0, ge=0)
    """How far a record's time may lie ahead of the joiner's wall clock. Event time is the largest time
    seen, so a record stamped in the future (or in milliseconds) would expire the whole pending set: one
    beyond this bound goes to the dead-letter topic instead."""
    max_pending: int = Field(20_000, gt=0)
    """At most this many unmatched items per side are held unacked."""
    remember_joined: int = Field(100_000, ge=0)
    """Ids of recent joins kept to recognise redelivered duplicates."""


# What an example takes from a prediction (a label is kept as read: its id, value and time).
PREDICTION_FIELDS = ("id", "ts", "x", "y_pred", "proba", "model")


class Pending(NamedTuple):
    """A half waiting for its other half: what the example needs of it, its (unacked) input, its time."""

    record: dict[str, Any]
    delivery: Delivery
    ts: float | None  # None: arrived before the joiner saw any time (it then counts from the first one)


class JoinerFunction(StreamFunction[JoinerConfig]):
    """Pairs each prediction with its label into ``{"id", "ts", "x", "y", "y_pred", "proba", "model"}``."""

    Config = JoinerConfig
    role = "joiner"
    check_case = staticmethod(joiner_case)

    def setup(self, context: Any) -> None:
        self.predictions: OrderedDict[str, Pending] = OrderedDict()
        self.labels: OrderedDict[str, Pending] = OrderedDict()
        self.joined: OrderedDict[str, None] = OrderedDict()
        self.watermark = -math.inf
        self.first_time = math.inf  # the first record time seen: the time of records that came before it
        self.labels_topic = topic(self.config.labels_topic)
        self.predictions_topic = topic(self.config.predictions_topic)

    def on_message(self, delivery: Delivery, context: Any) -> None:
        config = self.config
        side = base_topic(delivery.topic)  # a partitioned topic's messages name their partition
        record: Any
        if side == self.labels_topic:
            record = kept = read_label(delivery.payload, config.label_field)
            mine, other = self.labels, self.predictions
        elif side == self.predictions_topic:
            record = read_prediction(delivery.payload)
            mine, other = self.predictions, self.labels
            kept = {name: record[name] for name in PREDICTION_FIELDS if name in record}
        else:
            raise BadMessage(f"topic {delivery.topic}: neither predictions_topic nor labels_topic")
        event_id = record["id"]
        ts = self._event_time(record, delivery)
        if event_id in self.joined or event_id in mine:
            self.record("duplicates", 1)  # redelivered or sent twice: the first copy wins
        elif event_id in other:
            match = other.pop(event_id)
            prediction, label = (kept, match.record) if mine is self.predictions else (match.record, kept)
            self._emit(event_id, prediction, label, (delivery, match.delivery))
            match.delivery.release()
        else:
            delivery.hold()
            untimed = None if self.watermark == -math.inf else self.watermark  # it arrives "now"
            mine[event_id] = Pending(kept, delivery, untimed if ts is None else ts)
        if ts is not None:
            if self.watermark == -math.inf:
                self.first_time = ts
            self.watermark = max(self.watermark, ts)
        self._expire()
        delivery.payload = b""  # held, maybe for long: only ``kept`` is needed to build the example

    def _event_time(self, record: dict[str, Any], delivery: Delivery) -> float | None:
        """The record's ``ts`` (checked by ``read_label``/``read_prediction``), else its message's event
        time, in epoch seconds; ``None`` if it has neither.

        A time more than ``max_clock_skew_seconds`` ahead of the wall clock is refused.
        """
        ts, source = record["ts"], "ts"
        if ts is None:
            if not delivery.event_time:
                return None
            ts, source = delivery.event_time / 1000, "event time"
        ahead = ts - time.time()
        skew = self.config.max_clock_skew_seconds
        if ahead > skew:
            raise BadMessage(
                f"{source}: {ts} is {ahead:,.0f} s ahead of the joiner's clock"
                f" (max_clock_skew_seconds {skew:g})"
            )
        return float(ts)

    def _emit(self, event_id: str, prediction: Prediction, label: Label, acks: tuple[Delivery, ...]) -> None:
        example = encode(example_record(prediction, label))
        self.publish(self.context.get_output_topic(), example, key=event_id, acks=acks)
        self.record("joined", 1)
        if self.config.remember_joined:
            self.joined[event_id] = None
            if len(self.joined) > self.config.remember_joined:
                self.joined.popitem(last=False)

    def _expire(self) -> None:
        """Publish one ``expired`` record per side for everything past its TTL or over ``max_pending``."""
        horizon = self.watermark - self.config.ttl_seconds
        for side, pending in (("prediction", self.predictions), ("label", self.labels)):
            expired: list[Pending] = []
            ids: list[str] = []
            while pending:
                event_id, oldest = next(iter(pending.items()))
                arrived = self.first_time if oldest.ts is None else oldest.ts
                if arrived > horizon and len(pending) <= self.config.max_pending:
                    break
                pending.popitem(last=False)
                expired.append(oldest)
                ids.append(event_id)
            if expired:
                self.record(f"expired_{side}s", len(expired))
                self.metric_event(
                    side, expired_event(side, ids, self.watermark), acks=[p.delivery for p in expired]
                )
                for item in expired:
                    item.delivery.release()
