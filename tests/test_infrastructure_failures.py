"""A failing state store or producer never turns a good event into a dead letter: it stays unacked.

A failing state read is waited for in place (features, ``worker/features/store.py``). Pulsar's instance
nacks an input whose ``process`` raised and redelivers it; the harness' in-memory client
does the same (``redeliver_nacked`` stands for the 60 s nack delay). A publish whose callback reports a
failure leaves its input unacked until the instance restarts.
"""

from __future__ import annotations

from typing import Any

import pulsar
import pytest

from streamloop.runtime.memory import MemoryProducer
from streamloop.runtime.state import MemoryStateStore
from streamloop.runtime.testing import FunctionHarness
from streamloop.worker.config import topic
from streamloop.worker.features import FeaturesFunction
from streamloop.worker.joiner import JoinerFunction

EVENTS, FEATURES = topic("events"), topic("features")
WINDOWED = {
    "features": [
        {"name": "amount", "kind": "numeric", "field": "amount"},
        {"name": "n_1h", "kind": "window", "agg": "count", "window": 3600},
    ],
    "state_flush_every": 1,
}


def features() -> FunctionHarness:
    return FunctionHarness(
        FeaturesFunction, user_config=WINDOWED, inputs=[EVENTS], output=FEATURES, retainKeyOrdering=True
    )


def event(i: int) -> dict[str, Any]:
    return {"id": f"e{i}", "key": "u1", "ts": 1_767_225_600.0 + i, "amount": float(i)}


def broken(*args: Any, **kwargs: Any) -> Any:
    raise pulsar.ConnectError("Pulsar error: ConnectError")


def redeliver(h: FunctionHarness) -> None:
    h.client.redeliver_nacked()
    h.pump()


def test_a_failing_state_read_waits_for_the_store_with_the_event_unacked(monkeypatch) -> None:
    # Not raised for redelivery: a redelivered event would come after the key's later ones.
    h = features()
    get_value = MemoryStateStore.get_value
    monkeypatch.setattr(MemoryStateStore, "get_value", broken)
    seen: list[tuple[list, list]] = []

    def wait(seconds: float) -> None:  # what the store's outage looks like meanwhile; back after two tries
        seen.append((h.unacked, h.records("features")))
        if len(seen) == 2:
            monkeypatch.setattr(MemoryStateStore, "get_value", get_value)

    monkeypatch.setattr("streamloop.worker.features.store.sleep", wait)
    sent = h.send(event(1), key="u1")
    assert seen == [([sent], []), ([sent], [])]
    unreadable = "state of 'u1' unreadable (Pulsar error: ConnectError); again in 0.5 s"
    assert any(unreadable in line for line in h.logs)
    h.pump()
    assert h.unacked == [] and [r["id"] for r in h.records("features")] == ["e1"]
    assert h.dead_letters == [] and not h.metrics.get("processing_failures")


def test_a_failing_state_write_leaves_the_events_unacked_until_it_succeeds(monkeypatch) -> None:
    h = features()
    with monkeypatch.context() as patch:
        patch.setattr(MemoryStateStore, "put", broken)
        first, second = h.send(event(1), key="u1"), h.send(event(2), key="u1")
        assert h.unacked == [first, second]
    assert h.dead_letters == []
    # one per failed attempt: the writer retries between messages, at least once per flush of the two events
    failures = h.metrics["state_save_failures"]
    assert len(failures) >= 2 and set(failures) == {1}
    third = h.send(event(3), key="u1")  # the next flush stores everything held
    assert third not in h.unacked and h.unacked == []
    assert [r["x"]["n_1h"] for r in h.records("features")] == [1.0, 2.0, 3.0]


def test_a_send_that_raises_leaves_the_event_unacked_and_redelivers_it(monkeypatch) -> None:
    h = features()
    with monkeypatch.context() as patch:
        patch.setattr(MemoryProducer, "send_async", broken)  # dead letters could not be sent either
        sent = h.send(event(1), key="u1")
    assert h.unacked == [sent] and h.dead_letters == []
    assert h.metrics["processing_failures"] == [1]

    redeliver(h)
    assert h.unacked == [] and [r["id"] for r in h.records("features")] == ["e1"]
    assert h.dead_letters == []


def test_a_send_the_broker_does_not_confirm_leaves_the_event_unacked() -> None:
    h = features()
    h.fail_sends(FEATURES, 1)
    sent = h.send(event(1), key="u1")
    assert h.records("features") == [] and h.dead_letters == []
    assert h.unacked == [sent]  # no nack from a callback: Pulsar redelivers it when the instance restarts
    assert h.metrics["publish_failures"] == [1]
    assert any("publish to" in line and "left unacked for redelivery" in line for line in h.logs)

    h.restart()
    assert [r["id"] for r in h.records("features")] == ["e1"] and h.unacked == []


def test_a_bad_message_is_still_a_dead_letter() -> None:
    h = features()
    sent = h.send({"id": "e1", "key": "u1", "ts": 1_767_225_600.0, "amount": "lots"}, key="u1")
    assert [d.properties["error"] for d in h.dead_letters] == ["amount: expected a finite number, got str"]
    assert sent not in h.unacked
    assert "processing_failures" not in h.metrics


@pytest.mark.parametrize("function_class", [FeaturesFunction, JoinerFunction])
def test_a_bug_in_function_code_is_redelivered_not_dead_lettered(monkeypatch, function_class) -> None:
    monkeypatch.setattr(function_class, "on_message", lambda self, delivery, context: {}["missing"])
    h = FunctionHarness(function_class, user_config=WINDOWED if function_class is FeaturesFunction else {})
    sent = h.send(event(1), key="u1")
    assert h.dead_letters == [] and h.unacked == [sent]
    assert h.metrics["processing_failures"] == [1]
    assert any("left unacked for redelivery: KeyError" in line for line in h.logs)
