"""The features function's ``userConfig``: event field names, the feature specs, and state persistence.

>>> from streamloop.worker.config import parse_user_config
>>> config = parse_user_config(FeaturesConfig, {"features": [
...     {"name": "amount", "kind": "numeric", "field": "amount"},
...     {"name": "n_1h", "kind": "window", "agg": "count", "window": 3600},
... ]}, source="features.yaml")
>>> config.feature_names
['amount', 'n_1h']
>>> parse_user_config(FeaturesConfig, {"features": [
...     {"name": "a", "kind": "numeric", "field": "a"},
...     {"name": "n", "kind": "window", "agg": "count", "window": 0},
... ]}, source="f.yaml")
Traceback (most recent call last):
...
streamloop.worker.config.ConfigError: f.yaml: userConfig.features[1].window: Input should be greater ...
"""

from __future__ import annotations

from pydantic import Field, model_validator

from streamloop.worker.config import UserConfig
from streamloop.worker.features.spec import FeatureSpec, Name, invalid
from streamloop.worker.features.state import MAX_EVENTS


class FeaturesConfig(UserConfig):
    """Settings of :class:`~streamloop.worker.features.FeaturesFunction`."""

    id_field: Name = "id"
    """Event field holding the event id (required in every event)."""
    key_field: Name = "key"
    """Event field holding the entity key; when absent the message key is used, else ``""``."""
    time_field: Name = "ts"
    """Event time: epoch seconds or ISO-8601 (naive means UTC); when absent the message event time."""
    features: list[FeatureSpec] = Field(min_length=1)
    """The feature specs; the output columns are their ``feature_names``, in this order."""
    state_flush_every: int = Field(100, ge=1)
    """Write the window state of updated keys after this many messages (1: after every message)."""
    state_flush_seconds: float = Field(5.0, gt=0, allow_inf_nan=False)
    """Or write it when this long has passed since the last write (checked when a message arrives)."""
    state_cache_seconds: float = Field(60.0, gt=0, allow_inf_nan=False)
    """With one instance (``parallelism: 1``), a key idle this long is re-read from function state. With
    more, keys move between instances when consumers join or leave, so a key is re-read on its first event
    after its last write is stored."""
    state_cache_keys: int = Field(100_000, ge=1)
    """At most this many keys' windows are kept in memory; the least recently seen are dropped first."""
    window_max_events: int = Field(MAX_EVENTS, ge=10)
    """At most this many events per key in its windows (the longest window's, which bounds them by time
    too). A key that reaches it drops its oldest tenth and rebuilds its windows from the rest, counted in
    ``window_events_dropped``: a hot key's aggregates then cover its latest 90-100 % of this many events."""

    @property
    def feature_names(self) -> list[str]:
        """Every output column, in order: the same for every record."""
        return [name for spec in self.features for name in spec.feature_names]

    @model_validator(mode="after")
    def _unique_names(self) -> FeaturesConfig:
        seen: dict[str, int] = {}
        for i, spec in enumerate(self.features):
            for name in spec.feature_names:
                if name in seen:
                    raise invalid(
                        type(self).__name__,
                        ("features", i, "name"),
                        f"feature {name!r} is also produced by features[{seen[name]}]",
                        spec.name,
                    )
                seen[name] = i
        return self
