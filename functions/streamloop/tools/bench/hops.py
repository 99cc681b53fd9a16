"""The identity loop's functions: each hop of the loop with nothing of its work but the messages it moves.

Deployed in place of features, scorer, joiner and learner (:mod:`~streamloop.tools.bench.variants`), with
their subscriptions, acks and batching: what is left of the real loop's cost is Pulsar's and the runtime's.
Each republishes with the key the real function would use, so the broker batches and dispatches alike.
"""

from __future__ import annotations

from typing import Any

import orjson

from streamloop.worker.config import UserConfig, base_topic, topic
from streamloop.worker.function import Delivery, StreamFunction


class FeaturesHop(StreamFunction[UserConfig]):
    """An event republished to the features topic, keyed by its entity key (the event's own key)."""

    role = "features"

    def on_message(self, delivery: Delivery, context: Any) -> None:
        self.publish(context.get_output_topic(), delivery.payload, key=delivery.key, acks=(delivery,))


class ScorerHop(StreamFunction[UserConfig]):
    """A features record republished to the predictions topic, keyed by its event id (its ``id``)."""

    role = "scorer"

    def on_message(self, delivery: Delivery, context: Any) -> None:
        event_id = orjson.loads(delivery.payload)["id"]
        self.publish(context.get_output_topic(), delivery.payload, key=event_id, acks=(delivery,))


class JoinerHopConfig(UserConfig):
    predictions_topic: str = topic("predictions")
    """The input forwarded (one example per event, as the joiner makes); the other input is only acked."""


class JoinerHop(StreamFunction[JoinerHopConfig]):
    """A prediction republished to the examples topic keyed by its event id; a label acked."""

    Config = JoinerHopConfig
    role = "joiner"

    def on_message(self, delivery: Delivery, context: Any) -> None:
        if base_topic(delivery.topic) == topic(self.config.predictions_topic):  # type: ignore[union-attr]
            self.publish(context.get_output_topic(), delivery.payload, key=delivery.key, acks=(delivery,))


class LearnerHop(StreamFunction[UserConfig]):
    """An example acked (once ``process`` returns); nothing published."""

    role = "learner"

    def on_message(self, delivery: Delivery, context: Any) -> None:
        """Nothing to do: the input is acked when ``process`` returns."""
