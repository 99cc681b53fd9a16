"""Features: raw events to named feature dicts, from a declarative spec in ``userConfig``.

Numeric passthrough and transforms, one-hot and hashed categoricals, and per-key aggregates over
event-time windows (river ``stats`` under ``utils.TimeRolling``; min/max on a monotonic deque), with the
window state saved in Pulsar function state.

>>> config = FeaturesConfig.model_validate({"features": [
...     {"name": "hour", "kind": "numeric", "transform": "hour_of_day"},
...     {"name": "since_last", "kind": "window", "agg": "time_since_last", "window": 3600},
... ]})
>>> featurizer = Featurizer(config.features)
>>> state = featurizer.new_state()
>>> [featurizer.transform({}, ts, f"e{ts}", state) for ts in (7200.0, 7230.0)]
[{'hour': 2.0, 'since_last': 3600.0}, {'hour': 2.0, 'since_last': 30.0}]
"""

from streamloop.worker.features.config import FeaturesConfig
from streamloop.worker.features.featurizer import Featurizer
from streamloop.worker.features.function import FeaturesFunction
from streamloop.worker.features.spec import (
    FeatureSpec,
    HashedFeature,
    NumericFeature,
    OneHotFeature,
    WindowFeature,
    parse_spec,
)
from streamloop.worker.features.state import KeyState, WindowLayout

__all__ = [
    "FeatureSpec",
    "FeaturesConfig",
    "FeaturesFunction",
    "Featurizer",
    "HashedFeature",
    "KeyState",
    "NumericFeature",
    "OneHotFeature",
    "WindowFeature",
    "WindowLayout",
    "parse_spec",
]
