"""Process crashes on real Pulsar: ``kill -9`` of each function's instance mid-stream.

The worker restarts each one. Afterwards every event id has a prediction, every labelled event that did
not expire became exactly one learned example, and the learner's checkpointed model equals a no-crash
reference: the examples topic's distinct examples, in first-occurrence order, learned by a fresh
``LearnerFunction`` on the embedded harness (a joiner crash may reorder examples, so the reference is
built from what the deployed learner was actually offered). Duplicates on topics are allowed.
"""

from __future__ import annotations

import time

import orjson
import pytest
from books import distinct_ids
from checkpoints import load_checkpoint, weights
from corpus import build
from scenario import finish, settle
from stage import CONFIG_DIR, FUNCTIONS, Stage

from streamloop.runtime.testing import FunctionHarness

pytestmark = [pytest.mark.pulsar, pytest.mark.chaos]

CHECKPOINT_EVERY = 10
LEARNER = {"checkpoint_every": CHECKPOINT_EVERY}
N_EVENTS = 1200
ITEMS_PER_SECOND = 40.0  # ~60 s of stream, so each kill lands mid-stream


def reference(examples: list[dict], n: int) -> FunctionHarness:
    """A fresh learner (same YAML and overrides) fed the first ``n`` distinct examples, no crash."""
    harness = FunctionHarness.from_yaml(CONFIG_DIR / "learner.yaml", user_config=LEARNER)
    for record in examples[:n]:
        harness.send(orjson.dumps(record), key=record["id"])
    return harness


def test_kill_9_of_each_function_mid_stream_loses_and_double_learns_nothing(stage: Stage, report) -> None:
    started = time.monotonic()
    corpus = build(n_good=N_EVENTS, bad=False)
    stage.deploy(user_config={"learner": LEARNER})
    step = len(corpus.items) // (len(FUNCTIONS) + 1)
    schedule = {step * (i + 1): name for i, name in enumerate(FUNCTIONS)}
    killed: dict[str, int] = {}

    def pace(i: int) -> None:
        time.sleep(1 / ITEMS_PER_SECOND)
        if i in schedule:
            killed[schedule[i]] = stage.kill(schedule[i])

    stage.send_items(corpus.items, pace=pace)
    for name, pid in killed.items():
        stage.wait_restarted(name, pid)
    finish(stage, corpus, timeout=300)
    books = settle(stage, corpus, CHECKPOINT_EVERY, timeout=300)

    predictions = distinct_ids(stage.payloads("predictions"))
    assert set(predictions) == {
        orjson.loads(i.payload)["id"] for i in corpus.items + corpus.sentinel if i.kind == "event"
    }
    examples = list(distinct_ids(stage.payloads("examples")).values())
    state = load_checkpoint(stage)
    n = state.n_learned
    assert list(state.seen_ids) == [r["id"] for r in examples[:n]], "learned ids != the first n examples"
    expected = reference(examples, n)
    equal = weights(state) == weights(expected.function.state)
    health = stage.instances_ok()
    books.final_model_equals_reference = equal
    books.notes = {
        "killed": killed,
        "copies_on_topics": {t: len(stage.payloads(t)) for t in ("predictions", "examples")},
        "checkpoint_n": n,
        "instances": health,
        "seconds": round(time.monotonic() - started, 1),
    }
    report.add("process_crash", books.as_json())
    assert equal, (weights(state), weights(expected.function.state))
    assert expected.function.state.n_learned == n
    for name in FUNCTIONS:
        assert health[name]["running"] == 1 and health[name]["restarts"] >= 1, (name, health[name])
