"""The features function through the harness: outputs, dead letters, acks, and state across restarts."""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest

from streamloop.runtime.testing import FunctionHarness
from streamloop.worker.config import topic
from streamloop.worker.features import FeaturesFunction
from streamloop.worker.features.store import STATE_PREFIX

EVENTS, FEATURES = topic("events"), topic("features")
ROOT = Path(__file__).resolve().parents[2]
T0 = 1_767_225_600.0

CONFIG = {
    "features": [
        {"name": "amount", "kind": "numeric", "field": "amount", "transform": "log1p"},
        {"name": "channel", "kind": "onehot", "field": "channel", "values": ["web", "app"]},
        {"name": "n_1h", "kind": "window", "agg": "count", "window": 3600},
        {"name": "amount_sum_1h", "kind": "window", "agg": "sum", "field": "amount", "window": 3600},
        {"name": "amount_max_10m", "kind": "window", "agg": "max", "field": "amount", "window": 600},
        {"name": "since_last", "kind": "window", "agg": "time_since_last", "window": 3600},
    ],
    "state_flush_every": 4,
}


def harness(config: dict = CONFIG, **options: object) -> FunctionHarness:
    return FunctionHarness(
        FeaturesFunction,
        user_config=config,
        inputs=[EVENTS],
        output=FEATURES,
        retainKeyOrdering=True,
        **options,
    )


def event(i: int, key: str = "u1", **fields: object) -> dict:
    return {"id": f"e{i}", "key": key, "ts": T0 + 60 * i, "amount": float(i), "channel": "web", **fields}


def random_stream(n: int, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        e = event(
            i, key=f"u{rng.randrange(5)}", amount=rng.uniform(0, 50), channel=rng.choice(["web", "app"])
        )
        e["ts"] = T0 + 30 * i - (rng.randrange(900) if rng.random() < 0.2 else 0)
        out.append(e)
    return out


def test_a_record_per_event_keyed_by_entity_key() -> None:
    h = harness()
    h.send(event(0), key="ignored-when-the-event-has-a-key")
    h.send({"id": "e1", "ts": "2026-01-01T00:01:00Z", "amount": 3, "channel": "app"}, key="u1")
    h.send({"id": "e2", "amount": 0, "channel": "app"}, event_time=int((T0 + 180) * 1000))
    records = h.records(FEATURES)
    assert [m.key for m in h.messages(FEATURES)] == ["u1", "u1", ""]
    assert [r["ts"] for r in records] == [T0, T0 + 60, T0 + 180]
    assert records[1] == {
        "id": "e1",
        "key": "u1",
        "ts": T0 + 60,
        "x": {
            "amount": pytest.approx(1.3862943611198906),
            "channel=web": 0.0,
            "channel=app": 1.0,
            "n_1h": 2.0,
            "amount_sum_1h": 3.0,
            "amount_max_10m": 3.0,
            "since_last": 60.0,
        },
    }
    assert records[2]["x"]["n_1h"] == 1.0  # the keyless events share the key ""


def bad(**fields: object) -> dict:
    """A well-formed event of key u1, with ``fields`` changed (``None`` removes a field)."""
    base = {"id": "b", "key": "u1", "ts": T0, "amount": 1, "channel": "web", **fields}
    return {k: v for k, v in base.items() if v is not None}


BAD = [
    (b'{"id": "b1", "amount": ', "payload: invalid JSON"),
    (b'["not", "an", "object"]', "payload: expected a JSON object, got list"),
    (b'{"id": "b3", "ts": 1767225600, "amount": NaN, "channel": "web"}', "amount: expected a finite number"),
    (bad(id=None), "id: missing or empty"),
    (bad(id=""), "id: missing or empty"),
    (bad(amount="1"), "amount: expected a finite number, got str"),
    (bad(amount=True), "amount: expected a finite number, got bool"),
    (bad(channel="pos"), "channel: unknown value 'pos'"),
    (bad(ts="noon"), "ts: expected epoch seconds or an ISO-8601 time"),
    (bad(ts=None), "ts: missing, and the message has no event time"),
    (bad(key=["u1"]), "key: expected a string or integer key, got list"),
]


def test_bad_events_go_to_dead_letters_and_are_acked() -> None:
    h = harness({**CONFIG, "state_flush_every": 1})
    sent = []
    for i, (payload, _) in enumerate(BAD):
        sent.append(h.send(event(2 * i)))
        sent.append(h.send(payload))
    sent.append(h.send(event(99)))
    reasons = [d.properties["error"] for d in h.dead_letters]
    assert len(reasons) == len(BAD)
    for reason, (_, expected) in zip(reasons, BAD, strict=True):
        assert reason.startswith(expected), (reason, expected)
    assert h.dead_letters[0].payload == BAD[0][0]
    assert {d.properties["function"] for d in h.dead_letters} == {h.name}
    assert [r["id"] for r in h.records(FEATURES)] == [f"e{2 * i}" for i in range(len(BAD))] + ["e99"]
    assert [r["x"]["n_1h"] for r in h.records(FEATURES)][:3] == [1.0, 2.0, 3.0]  # bad events left no trace
    assert h.unacked == [] and h.acked == sent


def test_inputs_are_acked_only_once_their_state_is_saved() -> None:
    h = harness()  # state_flush_every: 4
    sent = [h.send(event(i)) for i in range(3)]
    assert h.unacked == sent and h.state == {}
    sent.append(h.send(event(3)))
    assert h.unacked == [] and h.acked == sent
    saved = orjson.loads(h.state[STATE_PREFIX + "u1"])
    assert saved["fields"] == ["amount"] and [entry[1] for entry in saved["log"]] == ["e0", "e1", "e2", "e3"]


def test_a_failed_state_write_is_counted_and_retried_with_its_inputs_still_unacked() -> None:
    h = harness()  # state_flush_every: 4
    store = h.runner.state[h.name]
    put, down = store.put, [True]

    def flaky(key: str, value: str) -> None:
        if down[0]:
            raise ConnectionError("table service unavailable")
        put(key, value)

    store.put = flaky
    sent = [h.send(event(i)) for i in range(4)]
    assert h.unacked == sent and h.metrics["state_save_failures"] and h.state == {}
    down[0] = False
    sent.append(h.send(event(4)))  # the write is retried after the next message, and stored
    assert h.unacked == [sent[-1]] and STATE_PREFIX + "u1" in h.state


def test_a_stateless_config_acks_at_once_and_keeps_no_state() -> None:
    h = harness({"features": CONFIG["features"][:2]})
    first = h.send(event(0))
    assert h.acked == [first] and h.state == {}


@pytest.mark.parametrize("crash_after", [3, 10, 17])
def test_a_restart_gives_the_same_features_as_an_uninterrupted_run(crash_after: int) -> None:
    stream = random_stream(40)
    reference = harness()
    for e in stream:
        reference.send(e)
    expected = {r["id"]: r for r in reference.records(FEATURES)}

    h = harness()
    for e in stream[:crash_after]:
        h.send(e)
    h.restart()  # unsaved inputs are redelivered and recomputed from the saved state
    for e in stream[crash_after:]:
        h.send(e)
    got = {}
    for r in h.records(FEATURES):
        got[r["id"]] = r  # a redelivered event's last record wins, as downstream dedupes by id
    assert got.keys() == expected.keys()
    for event_id, record in expected.items():
        assert (
            got[event_id] == pytest.approx(record)
            if False
            else got[event_id]["x"] == pytest.approx(record["x"])
        ), event_id
    assert h.unacked == reference.unacked


def test_a_redelivered_event_already_saved_is_not_counted_twice() -> None:
    h = harness({**CONFIG, "state_flush_every": 1})
    h.send(event(0))
    h.fail_sends(FEATURES, 1)
    lost = h.send(event(1))  # its state is saved, but its record was not confirmed: left unacked
    assert h.unacked == [lost]
    h.restart()
    assert h.unacked == []
    assert [(r["id"], r["x"]["n_1h"]) for r in h.records(FEATURES)] == [("e0", 1.0), ("e1", 2.0)]


def test_parallel_instances_give_the_same_features() -> None:
    stream = random_stream(60, seed=2)
    one, two = harness(), harness(parallelism=2)
    for e in stream:
        one.send(e, key=e["key"])
        two.send(e, key=e["key"])
    assert len({m.key for m in two.messages(FEATURES)}) == 5
    expected = {r["id"]: r["x"] for r in one.records(FEATURES)}
    got = {r["id"]: r["x"] for r in two.records(FEATURES)}
    assert got.keys() == expected.keys()
    for event_id, x in expected.items():
        assert got[event_id] == pytest.approx(x), event_id


def test_a_key_is_reread_after_being_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("streamloop.worker.features.step.monotonic", lambda: clock[0])
    h = harness({**CONFIG, "state_flush_every": 1, "state_cache_seconds": 30})
    h.send(event(0))
    # Another instance serves u1 meanwhile and saves its state.
    other = harness({**CONFIG, "state_flush_every": 1})
    other.send(event(0))
    other.send(event(1))
    h.runner.state[h.name].table.update(other.state)
    clock[0] += 10
    assert h.send(event(2)) and h.records(FEATURES)[-1]["x"]["n_1h"] == 2.0  # cached: not re-read yet
    clock[0] += 31
    h.runner.state[h.name].table.update(other.state)
    h.send(event(3))
    assert h.records(FEATURES)[-1]["x"]["n_1h"] == 3.0  # idle > 30 s: re-read e0, e1 from state, + e3


def unavailable(*args: object) -> None:
    raise ConnectionError("table service unavailable")


def test_a_key_whose_write_is_not_stored_is_not_reread_however_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("streamloop.worker.features.step.monotonic", lambda: clock[0])
    h = harness({**CONFIG, "state_flush_every": 1, "state_cache_seconds": 30})
    store = h.runner.state[h.name]
    put = store.put
    h.send(event(0))  # stored
    store.put = unavailable
    h.send(event(1))  # its write fails, retried
    clock[0] += 31
    h.send(event(2))
    assert h.records(FEATURES)[-1]["x"]["n_1h"] == 3.0  # from memory: the stored value lacks e1
    store.put = put
    h.pump()
    assert h.unacked == []


def test_with_more_instances_a_key_is_reread_after_each_write_of_the_state() -> None:
    # Key_Shared moves a key to another instance whenever consumers join or leave (a reconnect after a
    # broker's failover) and back, without telling either: the cache must not outlive the write.
    h = harness({**CONFIG, "state_flush_every": 1}, parallelism=2)
    h.send(event(0))
    other = harness({**CONFIG, "state_flush_every": 1})  # the instance that served u1 meanwhile
    other.send(event(0))
    other.send(event(1))
    h.runner.state[h.name].table.update(other.state)
    h.send(event(2))
    assert h.records(FEATURES)[-1]["x"]["n_1h"] == 3.0  # e0, e1 from state, + e2: no idle time needed


def test_with_more_instances_a_store_outage_goes_on_from_the_keys_in_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = harness({**CONFIG, "state_flush_every": 1}, parallelism=2)
    store = h.runner.state[h.name]
    down = {"put": False, "get_value": False}
    for name in down:  # the table service's writes and reads, each failing while down
        call = getattr(store, name)

        def call_or_fail(*args: object, name: str = name, call: object = call) -> object:
            if down[name]:
                raise ConnectionError("table service unavailable")
            return call(*args)  # type: ignore[operator]

        setattr(store, name, call_or_fail)

    h.send(event(0))  # stored
    down["put"] = True
    h.send(event(1))  # u1 read again (its write was stored), its own write fails and is retried
    down["get_value"] = True
    held = [h.send(event(i)) for i in (2, 3)]  # u1's updates are not stored: computed from memory
    assert [r["x"]["n_1h"] for r in h.records(FEATURES)] == [1.0, 2.0, 3.0, 4.0]
    assert set(held) <= set(h.unacked)
    down["put"] = down["get_value"] = False
    h.pump()
    assert h.unacked == [] and [e[1] for e in orjson.loads(h.state[STATE_PREFIX + "u1"])["log"]][-1] == "e3"
    down["get_value"] = True  # u1's updates are stored: its next event reads it, the read fails
    h.send(event(4))  # ... so it goes on from the copy in memory, in order (a redelivery would not be)
    waited: list[float] = []

    def wait(seconds: float) -> None:  # the store answers again after three tries
        waited.append(seconds)
        down["get_value"] = len(waited) < 3

    monkeypatch.setattr("streamloop.worker.features.store.sleep", wait)
    h.send(event(5, key="u2"))  # no copy of u2: its read waits for the store, in place (not redelivered)
    assert waited == [0.5, 1.0, 2.0]
    assert [(r["id"], r["x"]["n_1h"]) for r in h.records(FEATURES)][-2:] == [("e4", 5.0), ("e5", 1.0)]
    h.pump()
    assert h.unacked == [] and not h.metrics.get("processing_failures")


def test_state_is_saved_on_a_time_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("streamloop.worker.features.step.monotonic", lambda: clock[0])
    h = harness({**CONFIG, "state_flush_every": 1000, "state_flush_seconds": 2})
    first = h.send(event(0))
    assert h.unacked == [first]
    clock[0] += 2.5
    second = h.send(event(1))
    assert h.acked == [first, second] and STATE_PREFIX + "u1" in h.state


def test_the_shipped_config_is_valid() -> None:
    from streamloop.worker.config import FunctionFile

    file = FunctionFile.load(ROOT / "pulsar-config" / "features.yaml")
    assert file.check() == []
    h = FunctionHarness.from_yaml(file.path)
    h.send({"id": "e0", "key": "user-01", "ts": T0, "x0": 0.25, "x1": 0.5, "channel": "pos"})
    assert h.records(FEATURES)[0]["x"] == {
        "x0": 0.25,
        "x1": 0.5,
        "channel=web": 0.0,
        "channel=app": 0.0,
        "channel=pos": 1.0,
        "events_1h": 1.0,
        "x0_mean_1h": 0.25,
    }
