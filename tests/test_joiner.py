"""The joiner: predictions ⋈ labels by id in either order, TTL on both sides, nothing dropped silently."""

from __future__ import annotations

import pytest

from streamloop.runtime.testing import FunctionHarness
from streamloop.worker.config import topic
from streamloop.worker.joiner import JoinerFunction

PREDICTIONS, LABELS, EXAMPLES, METRICS = (
    topic("predictions"),
    topic("labels"),
    topic("examples"),
    topic("metrics"),
)


@pytest.fixture
def joiner() -> FunctionHarness:
    return make_joiner()


def make_joiner(**config) -> FunctionHarness:
    return FunctionHarness(
        JoinerFunction,
        user_config={"ttl_seconds": 100.0, **config},
        inputs=[PREDICTIONS, LABELS],
        output=EXAMPLES,
        name="joiner",
    )


def prediction(i: int, ts: float | None = None) -> dict:
    return {
        "id": f"e{i}",
        "key": "user-1",
        "ts": 1000.0 + i if ts is None else ts,
        "x": {"a": float(i)},
        "model": "default:3",
        "y_pred": True,
        "proba": {"false": 0.2, "true": 0.8},
    }


def label(i: int, value: object = False, ts: float | None = None) -> dict:
    return {"id": f"e{i}", "label": value, "ts": 1000.5 + i if ts is None else ts}


def send_prediction(h: FunctionHarness, i: int, **kw) -> object:
    return h.send(prediction(i, **kw), topic=PREDICTIONS, key=f"e{i}")


def send_label(h: FunctionHarness, i: int, value: object = False, **kw) -> object:
    return h.send(label(i, value, **kw), topic=LABELS, key=f"e{i}")


def expired(h: FunctionHarness, side: str) -> list[str]:
    return [i for r in h.records(METRICS) if r["event"] == "expired" and r["side"] == side for i in r["ids"]]


def test_prediction_then_label_makes_one_example_with_the_prediction_time_context(joiner):
    p = send_prediction(joiner, 1)
    assert p in joiner.unacked  # held until its label arrives
    lbl = send_label(joiner, 1, value=True)
    (example,) = joiner.records(EXAMPLES)
    assert example == {
        "id": "e1",
        "ts": 1001.0,
        "x": {"a": 1.0},
        "y": True,
        "y_pred": True,
        "proba": {"false": 0.2, "true": 0.8},
        "model": "default:3",
    }
    assert joiner.messages(EXAMPLES)[0].key == "e1"
    assert {p, lbl} <= set(joiner.acked)


def test_label_then_prediction_joins_too(joiner):
    lbl = send_label(joiner, 2, value=False)
    assert lbl in joiner.unacked
    p = send_prediction(joiner, 2)
    (example,) = joiner.records(EXAMPLES)
    assert example["id"] == "e2" and example["y"] is False and example["model"] == "default:3"
    assert {p, lbl} <= set(joiner.acked)


def test_unmatched_items_expire_after_the_ttl_in_event_time_and_are_counted(joiner):
    lonely_prediction = send_prediction(joiner, 1, ts=1000.0)
    lonely_label = send_label(joiner, 99, ts=1010.0)
    send_prediction(joiner, 2, ts=1050.0)
    assert not expired(joiner, "prediction")  # 50 s < ttl
    send_prediction(joiner, 3, ts=1105.0)  # watermark 1105: e1 (1000) is past the 100 s TTL
    assert expired(joiner, "prediction") == ["e1"]
    assert lonely_prediction in joiner.acked
    assert lonely_label in joiner.unacked
    send_prediction(joiner, 4, ts=1111.0)
    assert expired(joiner, "label") == ["e99"]
    assert lonely_label in joiner.acked
    assert not joiner.records(EXAMPLES)
    send_label(joiner, 3)
    assert [e["id"] for e in joiner.records(EXAMPLES)] == ["e3"]


def test_max_pending_expires_the_oldest_early(joiner):
    small = make_joiner(max_pending=2)
    for i in range(4):
        send_prediction(small, i)
    assert expired(small, "prediction") == ["e0", "e1"]
    assert len(small.unacked) == 2


def test_duplicates_are_acked_and_join_once(joiner):
    send_prediction(joiner, 1)
    duplicate = send_prediction(joiner, 1)
    assert duplicate in joiner.acked
    send_label(joiner, 1)
    late_duplicate = send_label(joiner, 1)
    assert len(joiner.records(EXAMPLES)) == 1
    assert late_duplicate in joiner.acked
    assert not joiner.unacked


def test_pending_items_survive_a_crash_through_redelivery(joiner):
    send_prediction(joiner, 1)
    send_label(joiner, 2)
    joiner.restart()  # the in-memory pending set is gone; Pulsar redelivers the unacked inputs
    send_label(joiner, 1)
    send_prediction(joiner, 2)
    assert sorted(e["id"] for e in joiner.records(EXAMPLES)) == ["e1", "e2"]
    assert not joiner.unacked


@pytest.mark.parametrize(
    ("topic_name", "payload", "reason"),
    [
        (LABELS, b'{"id": "e1"}', "label: missing"),
        (LABELS, b'{"label": true}', "id: missing"),
        (PREDICTIONS, b'{"id": "e1", "x": 3}', "x: expected an object"),
        (LABELS, b'{"id": "e1", "label": 1, "ts": "yesterday"}', "ts: expected a finite number, got str"),
        (PREDICTIONS, b"\xff\xfe not utf-8", "payload: invalid JSON"),
    ],
)
def test_malformed_inputs_go_to_dead_letters(joiner, topic_name, payload, reason):
    joiner.send(payload, topic=topic_name)
    (dead,) = joiner.dead_letters
    assert dead.properties["error"].startswith(reason)
    assert dead.properties["input_topic"] == topic_name
    assert not joiner.unacked


def test_a_non_finite_label_time_is_dead_lettered_naming_the_field(joiner: FunctionHarness) -> None:
    joiner.send(b'{"id": "e1", "label": true, "ts": NaN}', topic=LABELS)
    assert [d.properties["error"] for d in joiner.dead_letters] == ["ts: expected a finite number, got nan"]
    assert joiner.unacked == []
