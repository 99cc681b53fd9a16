"""A broker restart on real Pulsar: ``packaging/pulsar.sh down`` and ``up`` mid-stream.

The worker brings the four functions back; every unacked input is redelivered, so the same books close
as without the restart and the learner's model equals the reference of the crash scenario.
"""

from __future__ import annotations

import subprocess
import time

import orjson
import pytest
from books import distinct_ids
from checkpoints import load_checkpoint, weights
from cluster import REPO
from corpus import build
from scenario import finish, settle
from stage import FUNCTIONS, Stage
from test_chaos_crash import CHECKPOINT_EVERY, LEARNER, reference

pytestmark = [pytest.mark.pulsar, pytest.mark.chaos]

N_EVENTS = 600


def pulsar_sh(command: str, timeout: float) -> None:
    subprocess.run([str(REPO / "packaging" / "pulsar.sh"), command], cwd=REPO, check=True, timeout=timeout)


def test_a_broker_restart_mid_stream_loses_nothing(stage: Stage, report) -> None:
    started = time.monotonic()
    corpus = build(n_good=N_EVENTS, bad=False)
    stage.deploy(user_config={"learner": LEARNER})
    half = len(corpus.items) // 2
    stage.send_items(corpus.items[:half])
    time.sleep(2)  # some of it in flight: held window state, pending joins, examples not checkpointed
    pulsar_sh("down", timeout=180)
    outage_started = time.monotonic()
    pulsar_sh("up", timeout=360)
    for name in FUNCTIONS:
        stage.pulsar.wait_for_status(name, running=1, timeout=300)
    outage = time.monotonic() - outage_started
    stage.send_items(corpus.items[half:])
    finish(stage, corpus, timeout=300)
    books = settle(stage, corpus, CHECKPOINT_EVERY, timeout=300)

    examples = list(distinct_ids(stage.payloads("examples")).values())
    state = load_checkpoint(stage)
    assert list(state.seen_ids) == [r["id"] for r in examples[: state.n_learned]]
    expected = reference(examples, state.n_learned)
    books.final_model_equals_reference = weights(state) == weights(expected.function.state)
    books.notes = {
        "down_up_seconds": round(outage, 1),
        "copies_on_topics": {t: len(stage.payloads(t)) for t in ("predictions", "examples")},
        "checkpoint_n": state.n_learned,
        "seconds": round(time.monotonic() - started, 1),
    }
    report.add("broker_restart", books.as_json())
    assert books.final_model_equals_reference
    events = {orjson.loads(i.payload)["id"] for i in corpus.items + corpus.sentinel if i.kind == "event"}
    assert set(distinct_ids(stage.payloads("predictions"))) == events
