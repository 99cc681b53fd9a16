"""Node faults on the multi-node cluster, with the books pinned on both sides as in the fault scenarios.

The loop runs with its topics in 2 partitions, features and scorer at parallelism 2 over the two workers,
the joiner and the learner one instance each. Mid-stream one process gets ``kill -9``:

- a **broker**: its topics move to the other broker once its metadata session expires, and every client
  (the functions', the test's producers) reconnects there;
- a **function worker**, with its instances (a node's death): the surviving worker takes the instances over;
- a **bookie**: ledgers are written to both bookies (ensemble 2, write quorum 2) and acked by one (ack
  quorum 1, ensemble changes delayed while that holds), so the topics and function state (its table service
  on the other bookie, its logs on both) go on with the survivor; the bookie is started again two thirds of
  the way in, and a function deployed afterwards gets its state.

After each: every event predicted, every labelled event learned exactly once, each example equal to an
independent no-fault run's on the embedded runner, and the learner's weights equal a fresh learner fed
those examples in the order the deployed one learned them. The killed process is started again at the end
(``cluster.sh start``) so the next test has the whole cluster.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from books import distinct_ids
from checkpoints import load_checkpoint, weights
from corpus import build
from embedded import examples_without_faults
from expect import check_nothing_lost
from scenario import finish, settle
from stage import FUNCTIONS, Stage
from test_chaos_crash import CHECKPOINT_EVERY, LEARNER, reference, same_examples
from topology import STUCK_WORKERS_RESTARTED, broker_of, cluster_sh, pid

pytestmark = [pytest.mark.pulsar, pytest.mark.cluster]

N_EVENTS = 600
ITEMS_PER_SECOND = 40.0  # ~30 s of stream: the fault lands a third of the way in
SCALED = {"features": {"parallelism": 2}, "scorer": {"parallelism": 2}}


def placement(stage: Stage) -> dict[str, list[str]]:
    """Function → the worker of each instance, in instance order (from ``functions status``)."""
    out = {}
    for name in FUNCTIONS:
        instances = sorted(stage.pulsar.status(name).get("instances", []), key=lambda i: i["instanceId"])
        out[name] = [i["status"].get("workerId", "") for i in instances]
    return out


def all_running(stage: Stage) -> bool:
    return all(
        stage.pulsar.status(name).get("numRunning") == SCALED.get(name, {}).get("parallelism", 1)
        for name in FUNCTIONS
    )


def run_with_fault(
    stage: Stage,
    fault: Callable[[], dict[str, Any]],
    report: Any,
    scenario: str,
    recover: Callable[[], dict[str, Any]] | None = None,
) -> None:
    """Deploy, stream with ``fault()`` a third of the way in (and ``recover()`` two thirds), then pin the
    books and the model."""
    started = time.monotonic()
    corpus = build(n_good=N_EVENTS, bad=False)
    stage.deploy(user_config={"learner": LEARNER}, function_config=SCALED)
    before = placement(stage)
    # Spread over both workers (the round-robin scheduler; after a worker's restart it does not rebalance
    # what it already placed, so one function's two instances may share a worker).
    assert set(before["features"] + before["scorer"]) == {"worker-1", "worker-2"}, before
    at = len(corpus.items) // 3
    notes: dict[str, Any] = {}

    def pace(i: int) -> None:
        time.sleep(1 / ITEMS_PER_SECOND)
        if i == at:
            notes.update(fault())
        if recover is not None and i == 2 * at:
            notes.update(recover())

    stage.send_items(corpus.items, pace=pace)
    finish(stage, corpus, timeout=300)
    books = settle(stage, corpus, CHECKPOINT_EVERY, timeout=300)

    check_nothing_lost(corpus, books)
    events = {orjson.loads(i.payload)["id"] for i in corpus.items + corpus.sentinel if i.kind == "event"}
    predictions = stage.payloads("predictions")
    assert set(distinct_ids(predictions)) == events
    deployed = distinct_ids(stage.payloads("examples"))
    no_fault = examples_without_faults(corpus, {"learner": LEARNER})
    assert same_examples(deployed, no_fault)
    state = load_checkpoint(stage)
    learned_ids = list(state.seen_ids)  # in the order the learner learned them
    assert len(set(learned_ids)) == state.n_learned and set(learned_ids) <= set(deployed)
    expected = reference([no_fault[i] for i in learned_ids], state.n_learned)
    books.final_model_equals_reference = weights(state) == weights(expected.function.state)
    books.notes = {
        **notes,
        "placement_before": before,
        "placement_after": placement(stage),
        "copies_on_topics": {"predictions": len(predictions), "examples": len(stage.payloads("examples"))},
        "predictions_whose_copies_differ": differing_copies(predictions),
        "checkpoint_n": state.n_learned,
        "instances": stage.instances_ok(),
        "stuck_workers_restarted_so_far": list(STUCK_WORKERS_RESTARTED),  # a Pulsar hang: ClusterPulsar
        "seconds": round(time.monotonic() - started, 1),
    }
    report.add(scenario, books.as_json())
    assert books.final_model_equals_reference


def differing_copies(payloads: list[bytes]) -> dict[str, Any]:
    """How many ids were published more than once, how many of those with different features, and the
    first of these."""
    copies: dict[str, list[bytes]] = {}
    for payload in payloads:
        record = orjson.loads(payload)
        copies.setdefault(record["id"], []).append(orjson.dumps(record["x"], option=orjson.OPT_SORT_KEYS))
    differing = sorted(i for i, xs in copies.items() if len(set(xs)) > 1)
    return {
        "repeated": sum(1 for xs in copies.values() if len(xs) > 1),
        "differing": len(differing),
        "first_differing": differing[:20],
    }


def test_kill_9_of_a_broker_moves_its_topics_and_loses_nothing(stage: Stage, report) -> None:
    topics = [
        f"{stage.topic(name)}-partition-{i}" for name in ("events", "predictions", "examples") for i in (0, 1)
    ]

    def kill_broker() -> dict[str, Any]:
        owners = {t: broker_of(stage.admin, t) for t in topics}
        # The broker owning most of these partitions (cluster.sh names brokers by port: 6660 -> broker-1).
        victim_port = max(set(owners.values()), key=list(owners.values()).count).rsplit(":", 1)[1]
        victim = f"broker-{int(victim_port) - 6659}"
        killed_pid = pid(victim)
        cluster_sh("kill", victim)
        moved = time.monotonic()
        survivor = f"127.0.0.1:{6660 if victim == 'broker-2' else 6661}"
        deadline = moved + 120
        while any(broker_of(stage.admin, t) != survivor for t in topics):
            assert time.monotonic() < deadline, "topics did not move to the surviving broker in 120 s"
            time.sleep(1)
        return {
            "killed": {victim: killed_pid},
            "owners_before": owners,
            "owned_by_victim": sum(1 for o in owners.values() if o.endswith(victim_port)),
            "topics_moved_after_s": round(time.monotonic() - moved, 1),
        }

    try:
        run_with_fault(stage, kill_broker, report, "cluster_broker_kill")
    finally:
        cluster_sh("up")


def test_kill_9_of_a_function_worker_moves_its_instances_and_loses_nothing(stage: Stage, report) -> None:
    def kill_worker() -> dict[str, Any]:
        hosted = placement(stage)
        victim = "worker-1" if "worker-1" in hosted["learner"] else "worker-2"  # the learner's worker
        survivor = "worker-2" if victim == "worker-1" else "worker-1"
        instances = [name for name, workers in hosted.items() for w in workers if w == victim]
        killed_pid = pid(victim)
        cluster_sh("kill", victim)  # the worker and its instance processes, as when its node dies
        moved = time.monotonic()
        deadline = moved + 180
        while not (all_running(stage) and all(set(w) == {survivor} for w in placement(stage).values())):
            assert time.monotonic() < deadline, f"instances did not move to {survivor}: {placement(stage)}"
            time.sleep(1)
        return {
            "killed": {victim: killed_pid},
            "instances_moved": instances,
            "instances_running_again_after_s": round(time.monotonic() - moved, 1),
        }

    try:
        run_with_fault(stage, kill_worker, report, "cluster_worker_kill")
    finally:
        cluster_sh("up")


def test_kill_9_of_a_bookie_loses_nothing(
    stage: Stage, pulsar, package: Path, tmp_path: Path, report
) -> None:
    def kill_bookie() -> dict[str, Any]:
        killed_pid = pid("bookie-2")
        # bookie-2: bookie-1 also runs the table service of function state (packaging/cluster.sh); every
        # ledger, the state's logs too, is on both bookies.
        cluster_sh("kill", "bookie-2")
        return {"killed": {"bookie-2": killed_pid}, "killed_at_s": round(time.monotonic() - began, 1)}

    def start_bookie() -> dict[str, Any]:
        cluster_sh("start", "bookie-2")  # it waits for its old ZooKeeper session to expire, then rejoins
        return {"bookie_started_at_s": round(time.monotonic() - began, 1)}

    began = time.monotonic()
    try:
        run_with_fault(stage, kill_bookie, report, "cluster_bookie_kill", recover=start_bookie)
    finally:
        cluster_sh("up")
    fresh = Stage(pulsar, package, tmp_path, f"cluster{uuid.uuid4().hex[:8]}", partitions=2)
    try:
        fresh.deploy(["features"])  # a function started now gets its state table: it runs
    finally:
        fresh.close()
