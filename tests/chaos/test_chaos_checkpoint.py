"""A tampered learner checkpoint on real Pulsar: refused with a clear error, never loaded."""

from __future__ import annotations

import base64
import json
import time

import orjson
import pytest
from checkpoints import CHECKPOINT_KEY, learned, load_checkpoint
from stage import TENANT, Stage, wait_for

from streamloop.tools.demo import T0
from streamloop.worker.learner.checkpoint import CheckpointError

pytestmark = [pytest.mark.pulsar, pytest.mark.chaos]


def examples(start: int, n: int) -> list[tuple[str, bytes]]:
    out = []
    for i in range(start, start + n):
        x = {"x0": (i % 13) / 13, "x1": (i % 7) / 7}
        record = {
            "id": f"x{i:05d}",
            "ts": T0 + i,
            "x": x,
            "y": x["x0"] > x["x1"],
            "y_pred": None,
            "model": None,
        }
        out.append((record["id"], orjson.dumps(record)))
    return out


def received(stage: Stage, name: str) -> int:
    """Messages the function's instances were handed since they started (``functions status``)."""
    return sum(i["status"].get("numReceived", 0) for i in stage.pulsar.status(name).get("instances", []))


def send(stage: Stage, records: list[tuple[str, bytes]]) -> None:
    producer = stage.producer("examples")
    for key, payload in records:
        producer.send(payload, partition_key=key)


def test_a_tampered_checkpoint_is_refused(stage: Stage, report) -> None:
    started = time.monotonic()
    stage.deploy(["learner"], user_config={"learner": {"checkpoint_every": 10}})
    send(stage, examples(0, 30))
    wait_for(lambda: learned(stage) == 30, 120, "a checkpoint of 30 examples")
    assert load_checkpoint(stage).n_learned == 30  # the genuine checkpoint verifies

    manifest = json.loads(stage.get_state("learner", CHECKPOINT_KEY))
    chunk_key = f"{CHECKPOINT_KEY}/{manifest['slot']}/0"
    blob = bytearray(base64.b64decode(stage.get_state("learner", chunk_key)))
    blob[-2] ^= 0x01  # one bit of the pickle
    tampered = base64.b64encode(bytes(blob))
    stage.put_state("learner", chunk_key, tampered.decode())
    with pytest.raises(CheckpointError, match="HMAC mismatch"):
        load_checkpoint(stage)

    models_before = len(stage.read("models"))
    ns = stage.namespace
    stage.pulsar.admin("functions", "restart", "--tenant", TENANT, "--namespace", ns, "--name", "learner")
    stage.pulsar.wait_for_status("learner", running=1, timeout=120)
    send(stage, examples(30, 20))
    errors = wait_for(
        lambda: [e for e in stage.errors("learner") if "HMAC mismatch" in e],
        180,
        "the HMAC error in functions status",
    )
    # A positive signal that all 20 reached the refusing learner (each one raised the same error); had it
    # loaded the checkpoint, they would have made 2 checkpoints by now.
    wait_for(lambda: received(stage, "learner") >= 20, 180, "the 20 examples handed to the learner")
    assert stage.get_state("learner", chunk_key) == tampered, "the learner wrote a checkpoint after refusing"
    assert json.loads(stage.get_state("learner", CHECKPOINT_KEY)) == manifest
    checkpoints = [r["n"] for r in map(orjson.loads, stage.payloads("metrics")) if r["event"] == "checkpoint"]
    assert max(checkpoints) == 30, (
        f"the learner learned after its checkpoint was tampered with: {checkpoints}"
    )
    assert len(stage.read("models")) == models_before
    stats = stage.admin.topic_stats(stage.topic("examples"))
    backlog = stats["subscriptions"][f"{TENANT}/{ns}/learner"]["msgBacklog"]
    assert backlog >= 20, "the examples after the tampering must stay unacked"
    line = next(line for line in errors[0].splitlines() if "HMAC mismatch" in line)
    report.add(
        "tampered_checkpoint",
        {
            "events_in": 50,
            "learned": 30,
            "unacked_after_refusal": backlog,
            "status_error": line.strip(),
            "seconds": round(time.monotonic() - started, 1),
        },
    )
