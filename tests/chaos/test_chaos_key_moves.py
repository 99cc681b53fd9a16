"""Keys moving between features instances and back, on real Pulsar.

Features runs two instances on Key_Shared. One is ``kill -9``-ed, twice: each time, until the worker has
started it again, the survivor receives every key; the restarted instance joins under a new consumer
name, so the keys are shared out afresh, and some of them come back to the survivor at the second kill
after the other instance updated them. The survivor never restarts, so it keeps whatever it cached (here
for up to ``state_cache_seconds: 600``): each event's features must still equal a single instance's,
fed the same events with no fault.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import orjson
import pytest
from books import distinct_ids
from corpus import build
from stage import CONFIG_DIR, Stage, wait_for
from test_chaos_crash import feature_changes

from streamloop.runtime.testing import FunctionHarness
from streamloop.worker.config import topic

pytestmark = [pytest.mark.pulsar, pytest.mark.chaos]

N_EVENTS = 900
EVENTS_PER_SECOND = 40.0
# What a cache would keep with one instance; with two the keys must be re-read regardless.
USER_CONFIG = {"state_cache_seconds": 600, "state_flush_every": 20, "state_flush_seconds": 1}


def reference(payloads: list[bytes]) -> dict[str, dict[str, float]]:
    """Each event's features from one instance, no fault (the embedded runtime)."""
    harness = FunctionHarness.from_yaml(CONFIG_DIR / "features.yaml", user_config=USER_CONFIG)
    for payload in payloads:
        harness.send(payload, key=orjson.loads(payload)["key"])
    return {r["id"]: r["x"] for r in harness.records(topic("features"))}


def test_a_key_moved_away_and_back_continues_from_the_other_instances_updates(stage: Stage, report) -> None:
    started = time.monotonic()
    events = [i for i in build(n_good=N_EVENTS, bad=False).items if i.kind == "event"]
    stage.deploy(
        ["features"], user_config={"features": USER_CONFIG}, function_config={"features": {"parallelism": 2}}
    )
    first = stage.instance_pids("features")
    assert len(first) == 2, first
    survivor, victim = first
    kills: list[dict[str, Any]] = []

    def restarted(killed: int) -> int | None:
        fresh = [p for p in stage.instance_pids("features") if p not in (survivor, killed)]
        return fresh[0] if fresh and stage.pulsar.status("features").get("numRunning") == 2 else None

    def kill(pid: int) -> None:
        os.kill(pid, signal.SIGKILL)
        kills.append({"pid": pid, "after_s": round(time.monotonic() - started, 1)})

    def pace(i: int) -> None:
        nonlocal victim
        time.sleep(1 / EVENTS_PER_SECOND)
        if i == N_EVENTS // 4:
            kill(victim)  # the survivor serves every key until the worker restarts it
        if i == N_EVENTS // 2:  # the restarted instance takes its share under a new consumer name
            victim = wait_for(lambda: restarted(kills[-1]["pid"]), 180, "features restarted after kill -9")
        if i == 3 * N_EVENTS // 4:
            kill(victim)  # its keys, updated there, come back to the survivor

    stage.send_items(events, pace=pace)
    wait_for(lambda: restarted(kills[-1]["pid"]), 180, "features restarted after the second kill -9")
    ids = {orjson.loads(e.payload)["id"] for e in events}
    deployed = wait_for(
        lambda: (found := distinct_ids(stage.payloads("features"))) and set(found) >= ids and found,
        240,
        f"{len(ids)} feature records",
    )
    expected = reference([e.payload for e in events])
    differ = [i for i in expected if deployed[i]["x"] != expected[i]]
    assert survivor in stage.instance_pids("features"), "the survivor must not have restarted"
    report.add(
        "key_moves",
        {
            "events": len(events),
            "kills": kills,
            "differing_ids": len(differ),
            "copies_on_topic": len(stage.payloads("features")),
            "seconds": round(time.monotonic() - started, 1),
        },
    )
    assert not differ, f"{len(differ)} of {len(expected)} events' features differ, e.g. " + "; ".join(
        f"{i}: " + ", ".join(feature_changes(deployed[i]["x"], expected[i])) for i in differ[:3]
    )
