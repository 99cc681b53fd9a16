"""The joiner: predictions ⋈ labels by id in either order, TTL on both sides, nothing dropped silently."""

from __future__ import annotations

import time

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


def make_joiner(partitions: dict[str, int] | None = None, **config) -> FunctionHarness:
    return FunctionHarness(
        JoinerFunction,
        user_config={"ttl_seconds": 100.0, **config},
        inputs=[PREDICTIONS, LABELS],
        output=EXAMPLES,
        name="joiner",
        partitions=partitions,
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


# -- event time: one record cannot move it arbitrarily (issue 12, defect 3) ------------------------------
NOW = time.time()


@pytest.mark.parametrize(
    "label_ts",
    [NOW + 30 * 86_400.0, (NOW - 50) * 1000],
    ids=["a month ahead", "milliseconds among seconds"],
)
def test_a_label_time_beyond_the_clock_skew_is_dead_lettered_and_expires_nothing(joiner, label_ts):
    waiting = [send_prediction(joiner, i, ts=NOW - 100 + i) for i in range(3)]
    send_label(joiner, 7, ts=label_ts)
    (dead,) = joiner.dead_letters
    assert dead.properties["error"].startswith(f"ts: {label_ts} is ")
    assert "ahead of the joiner's clock (max_clock_skew_seconds 300)" in dead.properties["error"]
    assert not expired(joiner, "prediction")
    assert joiner.unacked == waiting  # still pending: the next labels join them
    send_label(joiner, 1, ts=NOW - 50)
    assert [e["id"] for e in joiner.records(EXAMPLES)] == ["e1"]


def test_a_time_within_the_clock_skew_is_kept_and_the_bound_is_configurable(joiner):
    send_label(joiner, 1, ts=NOW + 200)  # within the default 300 s
    assert not joiner.dead_letters
    strict = make_joiner(max_clock_skew_seconds=60)
    send_label(strict, 1, ts=time.time() + 200)
    assert "max_clock_skew_seconds 60" in strict.dead_letters[0].properties["error"]


def test_a_message_event_time_is_bounded_like_a_ts_field(joiner):
    joiner.send({"id": "e1", "label": True}, topic=LABELS, key="e1", event_time=int((NOW + 86_400) * 1000))
    assert joiner.dead_letters[0].properties["error"].startswith("event time: ")
    assert "ahead of the joiner's clock" in joiner.dead_letters[0].properties["error"]


# -- labels without a time (issue 12, defect 4) ------------------------------------------------------------
def send_untimed_label(h: FunctionHarness, i: int) -> object:
    return h.send({"id": f"e{i}", "label": True}, topic=LABELS, key=f"e{i}")


@pytest.mark.parametrize("restart", [False, True], ids=["cold start", "after a restart"])
@pytest.mark.parametrize("label_first", [True, False], ids=["label first", "prediction first"])
def test_an_untimed_label_joins_in_either_order_at_cold_start_and_after_a_restart(
    joiner, label_first, restart
):
    if label_first:
        send_untimed_label(joiner, 1)
    else:
        send_prediction(joiner, 1)
    if restart:
        joiner.restart()
    if label_first:
        send_prediction(joiner, 1)
    else:
        send_untimed_label(joiner, 1)
    assert [(e["id"], e["y"]) for e in joiner.records(EXAMPLES)] == [("e1", True)]
    assert not expired(joiner, "label") and not joiner.unacked


def test_an_untimed_label_at_cold_start_expires_a_ttl_after_the_first_time_seen(joiner):
    lonely = send_untimed_label(joiner, 99)
    send_prediction(joiner, 1, ts=1000.0)  # the first time the joiner sees
    send_prediction(joiner, 2, ts=1099.0)
    assert not expired(joiner, "label")
    send_prediction(joiner, 3, ts=1101.0)
    assert expired(joiner, "label") == ["e99"]
    assert lonely in joiner.acked


# -- memory: only what the example needs (issue 12, defect 7) -----------------------------------------------
def test_a_pending_half_keeps_only_what_the_example_needs(joiner):
    joiner.send({"id": "e1", "label": True, "ts": 1000.0, "notes": "n" * 10_000}, topic=LABELS, key="e1")
    joiner.send({**prediction(2), "debug": "d" * 10_000}, topic=PREDICTIONS, key="e2")
    (label_half,) = joiner.function.labels.values()
    (prediction_half,) = joiner.function.predictions.values()
    assert label_half.record == {"id": "e1", "label": True, "ts": 1000.0}
    assert set(prediction_half.record) == {"id", "ts", "x", "y_pred", "proba", "model"}
    assert label_half.delivery.payload == prediction_half.delivery.payload == b""  # no raw bytes held


# -- partitioned topics (issue 12, defect 8) -----------------------------------------------------------------
def test_partitioned_inputs_join_expire_ack_and_survive_a_restart():
    h = make_joiner(partitions={PREDICTIONS: 3, LABELS: 2})
    for i in range(6):
        send_prediction(h, i, ts=1000.0 + i)
    assert {m.topic_name() for m in h.client.messages(PREDICTIONS)} == {
        f"{PREDICTIONS}-partition-{n}" for n in range(3)
    }
    send_label(h, 0)
    h.restart()  # the pending predictions come back from their partitions
    for i in range(1, 5):
        send_label(h, i)
    assert sorted(e["id"] for e in h.records(EXAMPLES)) == [f"e{i}" for i in range(5)]
    send_prediction(h, 9, ts=1200.0)
    assert expired(h, "prediction") == ["e5"]
    assert not h.dead_letters
    assert len(h.unacked) == 1  # e9, waiting for its label
