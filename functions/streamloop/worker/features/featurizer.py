"""The feature spec list, compiled: one raw event in, the dense feature dict out.

>>> from streamloop.worker.features.config import FeaturesConfig
>>> config = FeaturesConfig.model_validate({"features": [
...     {"name": "amount", "kind": "numeric", "field": "amount", "transform": "clip", "max": 100},
...     {"name": "channel", "kind": "onehot", "field": "channel", "values": ["web", "app"]},
...     {"name": "amount_1h", "kind": "window", "agg": "mean", "field": "amount", "window": 3600},
... ]})
>>> featurizer = Featurizer(config.features)
>>> state = featurizer.new_state()
>>> featurizer.transform({"amount": 250, "channel": "app"}, ts=0.0, event_id="e1", state=state)
{'amount': 100.0, 'channel=web': 0.0, 'channel=app': 1.0, 'amount_1h': 250.0}
>>> featurizer.transform({"amount": 50, "channel": "app"}, ts=60.0, event_id="e2", state=state)
{'amount': 50.0, 'channel=web': 0.0, 'channel=app': 1.0, 'amount_1h': 150.0}
>>> featurizer.transform({"amount": 50, "channel": "pos"}, ts=60.0, event_id="e3", state=state)
Traceback (most recent call last):
...
streamloop.worker.codec.BadMessage: channel: unknown value 'pos'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from streamloop.worker.features.encoders import compile_encoder
from streamloop.worker.features.spec import Spec, WindowFeature
from streamloop.worker.features.state import MAX_EVENTS, US, KeyState, WindowLayout


class Featurizer:
    """Computes every feature of ``specs`` for one event, in ``feature_names`` order.

    Stateless specs are compiled to closures; ``window`` specs share one :class:`WindowLayout` and read
    and update the event's :class:`KeyState`. Every field is checked before the state changes, so a bad
    message leaves the key's windows untouched.
    """

    def __init__(self, specs: Sequence[Spec], max_events_per_key: int = MAX_EVENTS) -> None:
        self.feature_names: list[str] = [name for spec in specs for name in spec.feature_names]
        self._zeros = dict.fromkeys(self.feature_names, 0.0)
        self._encoders = [compile_encoder(s) for s in specs if not isinstance(s, WindowFeature)]
        window_specs = [s for s in specs if isinstance(s, WindowFeature)]
        self.windows = WindowLayout(window_specs, max_events_per_key) if window_specs else None

    @property
    def stateful(self) -> bool:
        """Whether some feature aggregates over a key's past events."""
        return self.windows is not None

    def new_state(self) -> KeyState:
        """Empty window state for a new key."""
        if self.windows is None:
            raise ValueError("no window features: there is no per-key state")
        return self.windows.new_state()

    def transform(
        self, record: dict[str, Any], ts: float, event_id: str = "", state: KeyState | None = None
    ) -> dict[str, float]:
        """The event's features; ``state`` (the event's key's) is required when there are window specs."""
        out = self._zeros.copy()
        for encode in self._encoders:
            encode(record, ts, out)
        layout = self.windows
        if layout is not None:
            if state is None:
                raise ValueError("window features need the key's state")
            values = layout.read(record)
            us = round(ts * US)
            previous = state.update(us, event_id, values)
            layout.write(state, previous, us, out)
        return out
