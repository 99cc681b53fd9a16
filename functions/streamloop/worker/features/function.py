"""The features function: raw events in, ``{"id", "key", "ts", "x"}`` records out, keyed by entity key."""

from __future__ import annotations

import logging
from typing import Any

from streamloop.worker.checkcases import features_case
from streamloop.worker.codec import encode
from streamloop.worker.features.config import FeaturesConfig
from streamloop.worker.features.step import FeatureStep
from streamloop.worker.function import Delivery, StreamFunction

log = logging.getLogger("streamloop.worker.features")


class FeaturesFunction(StreamFunction[FeaturesConfig]):
    """Computes the configured features of each event and publishes them to the output topic.

    Every record carries every feature of ``userConfig.features`` (dense, in config order). The event
    time is the ``time_field`` value (epoch seconds, or ISO-8601 where a naive time means UTC), else the
    message's event time; an event with neither goes to the dead-letter topic, as does any event with a
    missing id, a missing or mistyped field, or an unknown category, each with a reason naming the field.

    With ``window`` features the function keeps per-key state (see :mod:`streamloop.worker.features.store`):
    run it with ``retainKeyOrdering: true`` (Key_Shared on the entity key) so each key is served by one
    instance at a time; an input is acked only after the state that includes it is saved.
    """

    Config = FeaturesConfig
    role = "features"
    state_failure_metric = "state_save_failures"
    check_case = staticmethod(features_case)

    def setup(self, context: Any) -> None:
        self.step = FeatureStep(self, self.config)  # type: ignore[arg-type]
        self.output: str = context.get_output_topic()

    def on_message(self, delivery: Delivery, context: Any) -> None:
        record = self.step.record(delivery)
        self.publish(self.output, encode(record), key=record["key"], acks=(delivery,))
        self.step.flush()
