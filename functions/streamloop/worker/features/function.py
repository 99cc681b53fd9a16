"""The features function: raw events in, ``{"id", "key", "ts", "x"}`` records out, keyed by entity key."""

from __future__ import annotations

import logging
from time import monotonic
from typing import Any

from streamloop.worker.checkcases import features_case
from streamloop.worker.codec import encode
from streamloop.worker.features.config import FeaturesConfig
from streamloop.worker.features.featurizer import Featurizer
from streamloop.worker.features.store import StateCache
from streamloop.worker.function import Delivery, StreamFunction
from streamloop.worker.messages import features_record, read_event

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
        config: FeaturesConfig = self.config  # type: ignore[assignment]
        self.featurizer = Featurizer(config.features, config.window_max_events)
        self.output: str = context.get_output_topic()
        self._fields = (config.id_field, config.key_field, config.time_field)
        layout = self.featurizer.windows
        self.states = (
            None
            if layout is None
            else StateCache(
                self.function_state,
                layout,
                flush_every=config.state_flush_every,
                flush_seconds=config.state_flush_seconds,
                cache_seconds=config.state_cache_seconds,
                max_keys=config.state_cache_keys,
                now=monotonic(),
            )
        )

    def on_message(self, delivery: Delivery, context: Any) -> None:
        record, event_id, key, ts = read_event(
            delivery.payload, self._fields, delivery.key, delivery.event_time
        )
        states = self.states
        if states is None:
            x = self.featurizer.transform(record, ts)
        else:
            now = monotonic()
            state = states.get(key, now)
            x = self.featurizer.transform(record, ts, event_id, state)
            states.updated(key, state)
            self.hold_until_saved(delivery)
            if state.dropped:
                self.record("window_events_dropped", state.dropped)
        self.publish(self.output, encode(features_record(event_id, key, ts, x)), key=key, acks=(delivery,))
        if states is not None and states.due(now):
            self._flush(now)

    def _flush(self, now: float) -> None:
        saved = self.states.flush(now)  # type: ignore[union-attr]
        self.save_state()
        self.record("state_keys_saved", saved)
