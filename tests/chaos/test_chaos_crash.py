"""Process crashes on real Pulsar: ``kill -9`` of each function's instance mid-stream.

The worker restarts each one. Afterwards the books are pinned on both sides (no dead letter, no expired
label, one example per labelled event, an expired prediction per unlabelled event), every example's ``x``
and ``y`` equal those of an independent run of the same corpus on the embedded runner without any fault,
and the learner's checkpointed model equals a fresh ``LearnerFunction`` fed those no-fault examples in the
order the deployed learner learned them (a joiner crash may reorder examples). Duplicates on topics are
allowed.
"""

from __future__ import annotations

import time

import orjson
import pytest
from books import distinct_ids
from checkpoints import load_checkpoint, weights
from corpus import build
from embedded import examples_without_faults
from expect import check_nothing_lost
from scenario import finish, settle
from stage import CONFIG_DIR, FUNCTIONS, Stage

from streamloop.runtime.testing import FunctionHarness

pytestmark = [pytest.mark.pulsar, pytest.mark.chaos]

CHECKPOINT_EVERY = 10
LEARNER = {"checkpoint_every": CHECKPOINT_EVERY}
N_EVENTS = 1200
ITEMS_PER_SECOND = 40.0  # ~60 s of stream, so each kill lands mid-stream


def reference(examples: list[dict], n: int) -> FunctionHarness:
    """A fresh learner (same YAML and overrides) fed the first ``n`` of ``examples``, no crash."""
    harness = FunctionHarness.from_yaml(CONFIG_DIR / "learner.yaml", user_config=LEARNER)
    for record in examples[:n]:
        harness.send(orjson.dumps(record), key=record["id"])
    return harness


def same_examples(deployed: dict[str, dict], no_fault: dict[str, dict]) -> bool:
    """Assert each id's ``x`` and ``y`` equal the no-fault run's (the serving model may differ)."""
    assert set(deployed) == set(no_fault), set(deployed) ^ set(no_fault)
    differ = [
        i for i in deployed if (deployed[i]["x"], deployed[i]["y"]) != (no_fault[i]["x"], no_fault[i]["y"])
    ]
    assert not differ, f"{len(differ)} of {len(deployed)} examples differ: " + "; ".join(
        f"{i}: " + ", ".join(_changes(deployed[i], no_fault[i])) for i in differ[:8]
    )
    return True


def _changes(deployed: dict, no_fault: dict) -> list[str]:
    """``name deployed != no-fault`` for each feature (and ``y``) that differs."""
    out = feature_changes(deployed["x"], no_fault["x"])
    if deployed["y"] != no_fault["y"]:
        out.append(f"y {deployed['y']} != {no_fault['y']}")
    return out


def feature_changes(x: dict[str, float], expected: dict[str, float]) -> list[str]:
    """``name got != expected`` for each feature that differs (or is missing on one side)."""
    return [
        f"{n} {x.get(n)} != {expected.get(n)}"
        for n in sorted(set(x) | set(expected))
        if x.get(n) != expected.get(n)
    ]


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

    check_nothing_lost(corpus, books)
    predictions = distinct_ids(stage.payloads("predictions"))
    assert set(predictions) == {
        orjson.loads(i.payload)["id"] for i in corpus.items + corpus.sentinel if i.kind == "event"
    }
    deployed = distinct_ids(stage.payloads("examples"))
    no_fault = examples_without_faults(corpus, {"learner": LEARNER})
    assert same_examples(deployed, no_fault)
    state = load_checkpoint(stage)
    n = state.n_learned
    learned_ids = list(state.seen_ids)
    assert learned_ids == list(deployed)[:n], "learned ids != the first n examples on the topic"
    expected = reference([no_fault[i] for i in learned_ids], n)
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
