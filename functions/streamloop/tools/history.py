"""Training rows from a history: ``(features, label)`` pairs in the scorer's feature space.

A history is either examples as the joiner writes them (``{"x": {...}, "y": ...}``, e.g. a dump of the
``examples`` topic), or raw events with their labels, which go through the same feature spec and the same
:class:`~streamloop.worker.features.featurizer.Featurizer` as the ``features`` function
(``pulsar-config/features.yaml``), window aggregates included, **point in time**: each event's windows
hold only its key's events at or before its own time (:func:`point_in_time`). ``streamloop train`` on raw
events and ``streamloop rebuild`` (:mod:`streamloop.tools.rebuild`) both compute features this way.

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

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from streamloop.worker.codec import BadMessage
from streamloop.worker.config import FunctionFile, parse_user_config
from streamloop.worker.features.config import FeaturesConfig
from streamloop.worker.features.featurizer import Featurizer
from streamloop.worker.messages import parse_event

Row = tuple[dict[str, float], Any]


class Event(NamedTuple):
    """One well-formed event: its raw fields, id, entity key and event time (epoch seconds)."""

    record: dict[str, Any]
    id: str
    key: str
    ts: float


def load_features_config(path: str | Path) -> FeaturesConfig:
    """The validated ``userConfig`` of a features FunctionConfig YAML (errors name the file and key)."""
    file = FunctionFile.load(path)
    return parse_user_config(FeaturesConfig, file.user_config, str(path))


def example_rows(records: Sequence[dict[str, Any]]) -> list[Row]:
    """Rows of joined examples (``x`` and ``y``); records without a label are skipped."""
    return [
        (dict(r["x"]), r["y"]) for r in records if isinstance(r.get("x"), dict) and r.get("y") is not None
    ]


def point_in_time(
    events: Sequence[Event], featurizer: Featurizer
) -> Iterator[tuple[int, dict[str, float] | BadMessage]]:
    """``(index in events, features)`` of every event, each computed from only its key's events at or
    before its own time; ``(index, BadMessage)`` for one the spec refuses (it changes no window).

    The live function adds events in arrival order, so an event that arrives after a later-timestamped
    one of its key sees that later one (a window holds ``(latest - period, latest]``). Here each key's
    events go through one fresh window state in event-time order, ties in their order in ``events``.
    Pairs come key by key. Time: O(n log n) for the sort, then what the live function costs per event;
    memory: one index per event plus one key's window state at a time.

    >>> config = FeaturesConfig.model_validate(
    ...     {"features": [{"name": "n", "kind": "window", "agg": "count", "window": 3600}]})
    >>> late = [Event({}, "e1", "u1", 0.0), Event({}, "e2", "u1", 120.0), Event({}, "e3", "u1", 60.0)]
    >>> sorted(point_in_time(late, Featurizer(config.features)))  # e3 (60 s) does not see e2 (120 s)
    [(0, {'n': 1.0}), (1, {'n': 3.0}), (2, {'n': 2.0})]
    """
    if not featurizer.stateful:
        for index, event in enumerate(events):
            yield index, _transform(featurizer, event, None)
        return
    by_key: dict[str, list[int]] = {}
    for index, event in enumerate(events):
        by_key.setdefault(event.key, []).append(index)
    for indices in by_key.values():
        indices.sort(key=lambda i: events[i].ts)  # stable: ties keep arrival order
        state = featurizer.new_state()
        for index in indices:
            yield index, _transform(featurizer, events[index], state)


def _transform(featurizer: Featurizer, event: Event, state: Any) -> dict[str, float] | BadMessage:
    try:
        return featurizer.transform(event.record, event.ts, event.id, state)
    except BadMessage as error:
        return error


def featurize(
    events: Sequence[dict[str, Any]], labels: Sequence[Any], config: FeaturesConfig
) -> tuple[list[Row], list[str]]:
    """Rows of raw events (label ``None`` = skipped) through the feature spec, point in time, and the
    feature names; a malformed event raises :class:`BadMessage` naming it."""
    featurizer = Featurizer(config.features, config.window_max_events)
    fields = (config.id_field, config.key_field, config.time_field)
    parsed = [Event(*parse_event(event, fields, "", 0)) for event in events]
    features: list[dict[str, float]] = [{}] * len(parsed)
    for index, x in point_in_time(parsed, featurizer):
        if isinstance(x, BadMessage):
            raise BadMessage(f"event {parsed[index].id}: {x}")
        features[index] = x
    rows = [(x, label) for x, label in zip(features, labels, strict=True) if label is not None]
    return rows, featurizer.feature_names
