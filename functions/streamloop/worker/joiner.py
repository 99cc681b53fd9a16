"""The joiner: predictions ⋈ labels by event id, in either order, into training examples.

The pending set lives in Pulsar, not in a side store: a prediction or label waiting for its other half is
simply **not acked yet** (``Delivery.hold``). After a crash Pulsar redelivers every unacked message and
the pending set rebuilds itself. Both sides expire after ``ttl_seconds`` of event time (the watermark is
the largest ``ts`` seen on either input, so replays expire the same items); expiries are published to
``metrics`` with their ids, which acks them, so nothing is dropped silently.

Limits: the pending set is bounded by ``max_pending`` (the oldest item is expired early when it is full).
Keep it below the broker's ``maxUnackedMessagesPerConsumer`` (50,000 by default) — past that the broker
stops dispatching and the watermark can no longer advance. Pending items ≈ event rate × label delay.
With ``parallelism > 1`` the YAML's ``retainKeyOrdering: true`` (Key_Shared on the event id, which is the
message key of predictions and labels) sends both halves of a pair to the same instance.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any, NamedTuple

from pydantic import Field

from streamloop.worker.checkcases import CheckCase, joiner_case
from streamloop.worker.codec import BadMessage, decode_object, encode, require_id
from streamloop.worker.config import UserConfig, topic
from streamloop.worker.function import Delivery, StreamFunction


class JoinerConfig(UserConfig):
    predictions_topic: str = topic("predictions")
    """The input topic that carries predictions (the other input carries labels)."""
    labels_topic: str = topic("labels")
    """The input topic that carries labels."""
    label_field: str = "label"
    """The field of a label record that holds the label value."""
    ttl_seconds: float = Field(3600.0, gt=0)
    """Event-time seconds a prediction waits for its label (and a label for its prediction)."""
    max_pending: int = Field(20_000, gt=0)
    """At most this many unmatched items per side are held unacked."""
    remember_joined: int = Field(100_000, ge=0)
    """Ids of recent joins kept to recognise redelivered duplicates."""


class Pending(NamedTuple):
    record: dict[str, Any]
    delivery: Delivery
    ts: float


class JoinerFunction(StreamFunction[JoinerConfig]):
    """Pairs each prediction with its label into ``{"id", "ts", "x", "y", "y_pred", "proba", "model"}``."""

    Config = JoinerConfig
    role = "joiner"

    @classmethod
    def check_case(cls) -> CheckCase:
        return joiner_case()

    def setup(self, context: Any) -> None:
        self.predictions: OrderedDict[str, Pending] = OrderedDict()
        self.labels: OrderedDict[str, Pending] = OrderedDict()
        self.joined: OrderedDict[str, None] = OrderedDict()
        self.watermark = -math.inf

    def on_message(self, delivery: Delivery, context: Any) -> None:
        record = decode_object(delivery.payload)
        event_id = require_id(record)
        config = self.config
        if delivery.topic == config.labels_topic:
            if config.label_field not in record or record[config.label_field] is None:
                raise BadMessage(f"{config.label_field}: missing")
            mine, other = self.labels, self.predictions
        elif delivery.topic == config.predictions_topic:
            if not isinstance(record.get("x"), dict):
                raise BadMessage("x: expected an object of feature values")
            mine, other = self.predictions, self.labels
        else:
            raise BadMessage(f"topic {delivery.topic}: neither predictions_topic nor labels_topic")
        ts = self._event_time(record, delivery)
        if event_id in self.joined or event_id in mine:
            self.record("duplicates", 1)  # redelivered or sent twice: the first copy wins
        elif event_id in other:
            match = other.pop(event_id)
            prediction, label = (record, match.record) if mine is self.predictions else (match.record, record)
            self._emit(event_id, prediction, label, (delivery, match.delivery))
            match.delivery.release()
        else:
            delivery.hold()
            mine[event_id] = Pending(record, delivery, ts)
        self.watermark = max(self.watermark, ts)
        self._expire()

    def _event_time(self, record: dict[str, Any], delivery: Delivery) -> float:
        ts = record.get("ts")
        if ts is None:
            return delivery.event_time / 1000 if delivery.event_time else self.watermark
        if isinstance(ts, bool) or not isinstance(ts, (int, float)) or not math.isfinite(ts):
            raise BadMessage("ts: expected finite epoch seconds")
        return float(ts)

    def _emit(self, event_id: str, prediction: dict, label: dict, acks: tuple[Delivery, ...]) -> None:
        example = {
            "id": event_id,
            "ts": prediction.get("ts"),
            "x": prediction["x"],
            "y": label[self.config.label_field],
            "y_pred": prediction.get("y_pred"),
            "proba": prediction.get("proba"),
            "model": prediction.get("model"),
        }
        self.publish(self.context.get_output_topic(), encode(example), key=event_id, acks=acks)
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
                if oldest.ts > horizon and len(pending) <= self.config.max_pending:
                    break
                pending.popitem(last=False)
                expired.append(oldest)
                ids.append(event_id)
            if expired:
                self.record(f"expired_{side}s", len(expired))
                self.metric_event(
                    side,
                    {
                        "event": "expired",
                        "side": side,
                        "n": len(ids),
                        "ids": ids,
                        "watermark": self.watermark,
                    },
                    acks=[p.delivery for p in expired],
                )
                for item in expired:
                    item.delivery.release()
