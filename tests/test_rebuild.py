"""`streamloop.tools.rebuild`: features recomputed from the events log, point in time, by the live code."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from streamloop.runtime.memory import MemoryClient
from streamloop.runtime.testing import FunctionHarness
from streamloop.tools.history import featurize
from streamloop.tools.rebuild import publish_examples, read_topic, rebuild
from streamloop.worker.config import topic
from streamloop.worker.features import FeaturesFunction
from streamloop.worker.features.config import FeaturesConfig
from streamloop.worker.messages import read_example

EVENTS, LABELS, FEATURES = topic("events"), topic("labels"), topic("features")
T0 = 1_767_225_600.0
PERIOD = 600.0
WINDOWS = {
    "features": [
        {"name": "amount", "kind": "numeric", "field": "amount"},
        {"name": "n_10m", "kind": "window", "agg": "count", "window": PERIOD},
        {"name": "mean_10m", "kind": "window", "agg": "mean", "field": "amount", "window": PERIOD},
    ]
}
EVERY_KIND = {
    "features": [
        {"name": "amount", "kind": "numeric", "field": "amount", "transform": "log1p"},
        {"name": "channel", "kind": "onehot", "field": "channel", "values": ["web", "app"]},
        {"name": "hour", "kind": "numeric", "transform": "hour_of_day"},
        {"name": "n_1h", "kind": "window", "agg": "count", "window": 3600},
        {"name": "sum_1h", "kind": "window", "agg": "sum", "field": "amount", "window": 3600},
        {"name": "mean_10m", "kind": "window", "agg": "mean", "field": "amount", "window": 600},
        {"name": "std_10m", "kind": "window", "agg": "std", "field": "amount", "window": 600},
        {"name": "min_10m", "kind": "window", "agg": "min", "field": "amount", "window": 600},
        {"name": "max_1h", "kind": "window", "agg": "max", "field": "amount", "window": 3600},
        {"name": "since_last", "kind": "window", "agg": "time_since_last", "window": 3600},
    ],
    "state_flush_every": 7,
}


def config(spec: dict) -> FeaturesConfig:
    return FeaturesConfig.model_validate(spec)


def features_harness(spec: dict) -> FunctionHarness:
    return FunctionHarness(
        FeaturesFunction, user_config=spec, inputs=[EVENTS], output=FEATURES, retainKeyOrdering=True
    )


def late_stream() -> list[dict]:
    """Two keys; some events arrive after events of their key stamped up to 5 minutes later."""
    rng = random.Random(7)
    events = []
    for i in range(120):
        ts = T0 + 20 * i - (rng.randrange(1, 300) if i % 4 == 3 else 0)
        events.append({"id": f"e{i}", "key": f"u{i % 2}", "ts": ts, "amount": float(rng.randrange(100))})
    return events


def window_at(events: list[dict], key: str, ts: float, seen: list[int]) -> tuple[float, float]:
    """Count and mean of ``amount`` over the events of ``seen`` (indices) of ``key`` with a time in
    ``(ts - PERIOD, ts]``: the window definition, evaluated directly."""
    inside = [
        events[j]["amount"] for j in seen if events[j]["key"] == key and ts - PERIOD < events[j]["ts"] <= ts
    ]
    return float(len(inside)), sum(inside) / len(inside)


def point_in_time_truth(events: list[dict]) -> dict[str, tuple[float, float]]:
    """Each event's window over its key's events at or before its time (ties: those sent before it)."""
    truth = {}
    for i, event in enumerate(events):
        past = [
            j
            for j, other in enumerate(events)
            if other["ts"] < event["ts"] or (other["ts"] == event["ts"] and j <= i)
        ]
        truth[event["id"]] = window_at(events, event["key"], event["ts"], past)
    return truth


def send_all(client: MemoryClient, events: list[dict], labels: list[dict]) -> None:
    events_out, labels_out = client.create_producer(EVENTS), client.create_producer(LABELS)
    for event in events:
        events_out.send(orjson.dumps(event), partition_key=event["key"])
    for label in labels:
        labels_out.send(orjson.dumps(label), partition_key=label["id"])


def labels_of(events: list[dict]) -> list[dict]:
    return [{"id": e["id"], "label": e["amount"] > 50} for e in events]


def test_rebuild_is_point_in_time_where_the_live_arrival_order_looks_ahead():
    events = late_stream()
    truth = point_in_time_truth(events)
    client = MemoryClient()
    send_all(client, events, labels_of(events))
    rebuilt = rebuild(read_topic(client, EVENTS), read_topic(client, LABELS), config(WINDOWS))
    got = {e["id"]: (e["x"]["n_10m"], e["x"]["mean_10m"]) for e in rebuilt.examples}
    assert got.keys() == truth.keys()
    for event_id, (count, mean) in truth.items():
        assert got[event_id] == (count, pytest.approx(mean, rel=1e-12)), event_id

    # The live function adds in arrival order: a window holds its key's arrived events with a time in
    # (latest - PERIOD, latest], so an event that arrives late sees later ones (and misses older ones).
    live = features_harness(WINDOWS)
    for event in events:
        live.send(event, key=event["key"])
    by_id = {r["id"]: (r["x"]["n_10m"], r["x"]["mean_10m"]) for r in live.records(FEATURES)}
    looked_ahead = 0
    for i, event in enumerate(events):
        arrived = [j for j in range(i + 1) if events[j]["key"] == event["key"]]
        latest = max(events[j]["ts"] for j in arrived)
        count, mean = window_at(events, event["key"], latest, arrived)
        assert by_id[event["id"]] == (count, pytest.approx(mean, rel=1e-12)), event["id"]
        looked_ahead += latest > event["ts"] and by_id[event["id"]] != pytest.approx(
            truth[event["id"]], rel=1e-9
        )
    assert looked_ahead >= 10  # the stream does catch a look-ahead: these values differ from the rebuild's


def test_train_on_raw_events_uses_the_same_point_in_time_features():
    events = late_stream()
    truth = point_in_time_truth(events)
    rows, names = featurize(events, [True] * len(events), config(WINDOWS))
    assert names == ["amount", "n_10m", "mean_10m"]
    for event, (x, _) in zip(events, rows, strict=True):
        count, mean = truth[event["id"]]
        assert (x["n_10m"], x["mean_10m"]) == (count, pytest.approx(mean, rel=1e-12)), event["id"]


def in_order_stream(n: int, seed: int = 3) -> list[dict]:
    """Five keys, non-decreasing times (with ties), every kind of feature's fields."""
    rng = random.Random(seed)
    ts, events = T0, []
    for i in range(n):
        ts += rng.choice([0, 0, 5, 30, 90, 400])
        events.append(
            {
                "id": f"e{i}",
                "key": f"u{rng.randrange(5)}",
                "ts": ts,
                "amount": rng.uniform(0, 80),
                "channel": rng.choice(["web", "app"]),
            }
        )
    return events


def test_in_order_the_rebuild_equals_the_live_features_exactly_with_the_same_dead_letters():
    events = in_order_stream(400)
    bad = {50: b"not json", 120: b'{"key": "u1", "ts": 1.0}', 200: b'{"id": "x1", "key": "u1"}'}
    harness = features_harness(EVERY_KIND)
    for i, event in enumerate(events):
        if i in bad:
            harness.send(bad[i], key="u1")
        if i == 300:
            event = {**event, "channel": "pos"}  # unknown category: refused, the key's windows untouched
        harness.send(event, key=event["key"])
    labels = harness.client.create_producer(LABELS)
    for event in events:
        labels.send(orjson.dumps({"id": event["id"], "label": event["amount"] > 40}))

    rebuilt = rebuild(
        read_topic(harness.client, EVENTS), read_topic(harness.client, LABELS), config(EVERY_KIND)
    )

    live = {r["id"]: r for r in harness.records(FEATURES)}
    assert len(rebuilt.examples) == len(live) == len(events) - 1
    for example in rebuilt.examples:
        assert example["x"] == live[example["id"]]["x"], example["id"]  # exactly, every feature
        assert example["ts"] == live[example["id"]]["ts"]
    assert [s.reason for s in rebuilt.malformed] == [d.properties["error"] for d in harness.dead_letters]
    assert rebuilt.events == len(events) + len(bad) and rebuilt.unlabelled == 0
    assert rebuilt.orphan_labels == 1  # the label of the refused event


def test_labels_join_by_event_id_as_the_joiner_does():
    events = [{"id": f"e{i}", "key": "u1", "ts": T0 + i, "amount": float(i)} for i in range(5)]
    events.append(events[1] | {"amount": 99.0})  # a resent copy: the first one counts
    labels = [
        {"id": "e3", "label": True},
        {"id": "e0", "label": False},
        {"id": "e3", "label": False},  # a second copy: the first one wins
        {"id": "e9", "label": True},  # no such event
        {"id": "e4"},  # no label value
    ]
    client = MemoryClient()
    send_all(client, events, labels)
    rebuilt = rebuild(read_topic(client, EVENTS), read_topic(client, LABELS), config(WINDOWS))
    assert [(e["id"], e["y"]) for e in rebuilt.examples] == [("e0", False), ("e3", True)]  # arrival order
    example = rebuilt.examples[1]
    assert example == {
        "id": "e3",
        "ts": T0 + 3,
        "x": {"amount": 3.0, "n_10m": 4.0, "mean_10m": 1.5},
        "y": True,
        "y_pred": None,
        "proba": None,
        "model": None,
    }
    assert (rebuilt.duplicate_events, rebuilt.unlabelled, rebuilt.orphan_labels) == (1, 3, 1)
    assert [s.reason for s in rebuilt.malformed_labels] == ["label: missing"]


def test_published_examples_are_keyed_by_event_id_and_read_as_the_learner_reads_them():
    events = in_order_stream(30)
    client = MemoryClient()
    send_all(client, events, labels_of(events))
    rebuilt = rebuild(read_topic(client, EVENTS), read_topic(client, LABELS), config(WINDOWS))
    assert publish_examples(client, topic("examples-v2"), rebuilt.examples) == 30
    messages = client.messages(topic("examples-v2"))
    assert [m.partition_key() for m in messages] == [e["id"] for e in events]
    assert [read_example(m.data()) for m in messages] == rebuilt.examples


class ConfirmingOnFlush(MemoryClient):
    """A client whose producers' ``flush`` returns once the sends are confirmed, as a broker client's does."""

    def create_producer(self, topic: str, **options: object) -> Any:
        producer = super().create_producer(topic, **options)
        return SimpleNamespace(send_async=producer.send_async, flush=self.run_callbacks, close=producer.close)


def test_a_failed_publish_is_an_error():
    client = ConfirmingOnFlush()
    client.fail_sends(topic("examples-v2"), 1)
    example = {
        "id": "e1",
        "ts": 1.0,
        "x": {"a": 1.0},
        "y": True,
        "y_pred": None,
        "proba": None,
        "model": None,
    }
    with pytest.raises(RuntimeError, match=r"1 of 2 sends to .*examples-v2 failed"):
        publish_examples(client, topic("examples-v2"), [example, example | {"id": "e2"}])
