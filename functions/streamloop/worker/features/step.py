"""One event to its feature record, over the window state of the function that computes it.

The features function (:class:`~streamloop.worker.features.FeaturesFunction`) and the fused
features-and-scorer function (:class:`~streamloop.worker.fused.FeaturesScorerFunction`) both run this step;
each publishes the record (or its prediction) with the input's delivery, then calls :meth:`FeatureStep.flush`.
"""

from __future__ import annotations

from time import monotonic

from streamloop.worker.features.config import FeaturesConfig
from streamloop.worker.features.featurizer import Featurizer
from streamloop.worker.features.store import StateCache
from streamloop.worker.function import Delivery, StreamFunction, instances_of
from streamloop.worker.messages import Features, features_record, read_event


class FeatureStep:
    """The configured features of each event, with per-key windows in ``function``'s state.

    With ``window`` features, :meth:`record` holds the input until the state covering it is saved
    (:class:`~streamloop.worker.features.store.StateCache`), and :meth:`flush` saves the updated keys
    when due.
    """

    def __init__(self, function: StreamFunction, config: FeaturesConfig) -> None:
        self.function = function
        self.featurizer = Featurizer(config.features, config.window_max_events)
        self._fields = (config.id_field, config.key_field, config.time_field)
        layout = self.featurizer.windows
        shared = instances_of(function.context) != 1  # an instance count not known counts as shared
        self.states = (
            None
            if layout is None
            else StateCache.configured(function.function_state, layout, config, monotonic(), shared)
        )
        self._now = 0.0

    def record(self, delivery: Delivery) -> Features:
        """The feature record of ``delivery``'s event (:class:`~streamloop.worker.codec.BadMessage`: none)."""
        record, event_id, key, ts = read_event(
            delivery.payload, self._fields, delivery.key, delivery.event_time
        )
        states = self.states
        if states is None:
            x = self.featurizer.transform(record, ts)
        else:
            self._now = now = monotonic()
            state = states.get(key, now)
            x = self.featurizer.transform(record, ts, event_id, state)
            states.updated(key, state, delivery)
            if state.dropped:
                self.function.record("window_events_dropped", state.dropped)
        return features_record(event_id, key, ts, x)

    def flush(self) -> None:
        """Save the updated keys' windows if a flush is due (by count or time, as of the last record)."""
        states = self.states
        if states is not None and states.due(self._now):
            saved = states.flush(self._now)
            self.function.save_state()
            self.function.record("state_keys_saved", saved)
