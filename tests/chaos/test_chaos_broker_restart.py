"""A broker restart on real Pulsar: ``packaging/pulsar.sh down`` and ``up`` mid-stream.

The restart is proven (the standalone's pid changes, the functions are running again); the worker brings
the four functions back and every unacked input is redelivered, so the books are pinned on both sides as
without the restart, each example equals a no-fault embedded run's, and the learner's model equals the
reference of the crash scenario.
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
from embedded import examples_without_faults
from expect import check_nothing_lost
from scenario import finish, settle
from stage import FUNCTIONS, Stage
from test_chaos_crash import CHECKPOINT_EVERY, LEARNER, reference, same_examples

pytestmark = [pytest.mark.pulsar, pytest.mark.chaos]

N_EVENTS = 600


PID_FILE = REPO / ".cache" / "pulsar" / "run" / "pulsar.pid"


def standalone_pid() -> int:
    """The pid of the standalone ``packaging/pulsar.sh`` started (the test restarts that one, no other)."""
    assert PID_FILE.exists(), "the standalone under test was not started by packaging/pulsar.sh"
    return int(PID_FILE.read_text().split()[0])


def pulsar_sh(command: str, timeout: float) -> None:
    subprocess.run([str(REPO / "packaging" / "pulsar.sh"), command], cwd=REPO, check=True, timeout=timeout)


def test_a_broker_restart_mid_stream_loses_nothing(stage: Stage, report) -> None:
    started = time.monotonic()
    corpus = build(n_good=N_EVENTS, bad=False)
    stage.deploy(user_config={"learner": LEARNER})
    half = len(corpus.items) // 2
    stage.send_items(corpus.items[:half])
    time.sleep(2)  # some of it in flight: held window state, pending joins, examples not checkpointed
    before = standalone_pid()
    pulsar_sh("down", timeout=180)
    outage_started = time.monotonic()
    pulsar_sh("up", timeout=360)
    after = standalone_pid()
    assert after != before, "the broker was not restarted"
    for name in FUNCTIONS:
        stage.pulsar.wait_for_status(name, running=1, timeout=300)
    outage = time.monotonic() - outage_started
    stage.send_items(corpus.items[half:])
    finish(stage, corpus, timeout=300)
    books = settle(stage, corpus, CHECKPOINT_EVERY, timeout=300)

    check_nothing_lost(corpus, books)
    deployed = distinct_ids(stage.payloads("examples"))
    no_fault = examples_without_faults(corpus, {"learner": LEARNER})
    assert same_examples(deployed, no_fault)
    state = load_checkpoint(stage)
    learned_ids = list(state.seen_ids)
    assert learned_ids == list(deployed)[: state.n_learned]
    expected = reference([no_fault[i] for i in learned_ids], state.n_learned)
    books.final_model_equals_reference = weights(state) == weights(expected.function.state)
    books.notes = {
        "down_up_seconds": round(outage, 1),
        "standalone_pid": {"before": before, "after": after},
        "copies_on_topics": {t: len(stage.payloads(t)) for t in ("predictions", "examples")},
        "checkpoint_n": state.n_learned,
        "seconds": round(time.monotonic() - started, 1),
    }
    report.add("broker_restart", books.as_json())
    assert books.final_model_equals_reference
    events = {orjson.loads(i.payload)["id"] for i in corpus.items + corpus.sentinel if i.kind == "event"}
    assert set(distinct_ids(stage.payloads("predictions"))) == events
