"""Training rows from a history file: ``(features, label)`` pairs in the scorer's feature space.

A history is either examples as the joiner writes them (``{"x": {...}, "y": ...}``, e.g. a dump of the
``examples`` topic), or raw events with their labels, which go through the same feature spec as the
``features`` function (``pulsar-config/features.yaml``), window aggregates included, in file order.

>>> spec = {"features": [{"name": "amount", "kind": "numeric", "field": "amount"},
...                      {"name": "n_1h", "kind": "window", "agg": "count", "window": 3600}]}
>>> events = [{"id": "e1", "key": "u1", "ts": 0, "amount": 5},
...           {"id": "e2", "key": "u1", "ts": 60, "amount": 7}]
>>> rows, names = featurize(events, [True, False], parse_user_config(FeaturesConfig, spec, "f.yaml"))
>>> names, rows[1]
(['amount', 'n_1h'], ({'amount': 7.0, 'n_1h': 2.0}, False))
>>> example_rows([{"x": {"a": 1.0}, "y": True}, {"x": {"a": 2.0}, "y": None}])
[({'a': 1.0}, True)]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from streamloop.worker.config import FunctionFile, parse_user_config
from streamloop.worker.features.config import FeaturesConfig
from streamloop.worker.features.featurizer import Featurizer
from streamloop.worker.messages import entity_key, event_time

Row = tuple[dict[str, float], Any]


def load_features_config(path: str | Path) -> FeaturesConfig:
    """The validated ``userConfig`` of a features FunctionConfig YAML (errors name the file and key)."""
    file = FunctionFile.load(path)
    return parse_user_config(FeaturesConfig, file.user_config, str(path))


def example_rows(records: Sequence[dict[str, Any]]) -> list[Row]:
    """Rows of joined examples (``x`` and ``y``); records without a label are skipped."""
    return [
        (dict(r["x"]), r["y"]) for r in records if isinstance(r.get("x"), dict) and r.get("y") is not None
    ]


def featurize(
    events: Sequence[dict[str, Any]], labels: Sequence[Any], config: FeaturesConfig
) -> tuple[list[Row], list[str]]:
    """Rows of raw events (label ``None`` = skipped) through the feature spec, and the feature names."""
    featurizer = Featurizer(config.features, config.window_max_events)
    states: dict[str, Any] = {}
    rows = []
    for event, label in zip(events, labels, strict=True):
        ts = event_time(event, config.time_field, 0)
        state = None
        if featurizer.stateful:
            key = entity_key(event, config.key_field, "")
            state = states.get(key) or states.setdefault(key, featurizer.new_state())
        x = featurizer.transform(event, ts, str(event.get(config.id_field, "")), state)
        if label is not None:
            rows.append((x, label))
    return rows, featurizer.feature_names
