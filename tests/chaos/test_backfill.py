"""Backfill on real Pulsar: a learner deployed after the fact learns the retained ``examples`` history first,
read back from tiered storage: the history's ledgers are offloaded to the standalone's filesystem tier and
their BookKeeper copies deleted before the learner starts (docs/history.md).

The learner's YAML subscribes with ``subscriptionPosition: Earliest``, so a learner whose subscription is
new (a new function, or one deleted with its subscription) starts at the oldest retained example, then
goes on with live ones on the same subscription. The cursor, the ack-after-checkpoint and the dedup ids
mean nothing is learned twice, duplicate copies on the topic included: the final model equals a learner
fed each distinct example once, in order. Not a fault scenario: it runs in ``make test`` only.
"""

from __future__ import annotations

import math

import orjson
import pytest
from checkpoints import learned, load_checkpoint, weights
from cluster import bookkeeper_has_ledger, offload_everything
from stage import CONFIG_DIR, Stage, wait_for

from streamloop.runtime.testing import FunctionHarness
from streamloop.tools.demo import T0

pytestmark = [pytest.mark.pulsar]

CHECKPOINT_EVERY = 10
LEARNER = {"checkpoint_every": CHECKPOINT_EVERY}
HISTORY, LIVE = 400, 200


def example(i: int) -> dict:
    x = {"x0": math.sin(i / 7), "x1": (i % 11) / 11}
    return {"id": f"ex{i:05d}", "ts": T0 + i, "x": x, "y": x["x0"] + 0.3 * x["x1"] > 0.1, "model": None}


def send(stage: Stage, records: list[dict]) -> None:
    producer = stage.producer("examples")
    for record in records:
        producer.send(orjson.dumps(record), partition_key=record["id"])
    producer.flush()


def test_a_new_learner_learns_the_offloaded_history_then_goes_on_live_learning_nothing_twice(
    stage: Stage,
) -> None:
    history = [example(i) for i in range(HISTORY)]
    history_copies = history[::40]  # duplicate copies on the topic, as a crashed joiner leaves them
    send(stage, history + history_copies)
    offloaded = offload_everything(stage.admin, stage.topic("examples"))
    wait_for(
        lambda: not any(bookkeeper_has_ledger(ledger) for ledger in offloaded),
        180,
        f"BookKeeper to delete the offloaded ledgers {offloaded}",
        every=5,
    )

    stage.deploy(["learner"], user_config={"learner": LEARNER})  # after the history was written
    wait_for(lambda: learned(stage) == HISTORY, 180, f"the {HISTORY} history examples to be learned")

    live = [example(i) for i in range(HISTORY, HISTORY + LIVE)]
    send(stage, live + history[:5])  # late copies of old examples too
    total = HISTORY + LIVE
    wait_for(lambda: learned(stage) == total, 180, f"{total} examples learned")

    state = load_checkpoint(stage)
    distinct = history + live
    assert list(state.seen_ids) == [r["id"] for r in distinct], "learned out of order, or twice"
    reference = FunctionHarness.from_yaml(CONFIG_DIR / "learner.yaml", user_config=LEARNER)
    for record in distinct:
        reference.send(orjson.dumps(record), key=record["id"])
    assert weights(state) == weights(reference.function.state)
    promotions = [r for r in map(orjson.loads, stage.payloads("metrics")) if r.get("event") == "promotion"]
    assert promotions and len(stage.payloads("models")) == len(promotions)
    assert stage.instances_ok(["learner"])["learner"]["user_exceptions"] == 0
