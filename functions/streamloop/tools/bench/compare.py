"""The deployed loop at several partition counts and on two targets (standalone, cluster): the pure part.

Each loop run (:func:`streamloop.tools.bench.loop.run_loop_on_pulsar`) is summarised to its sustained rate,
its p99 event → prediction at the fixed rate and near saturation, its CPU per event and the 1-minute load
average when it started; runs are compared to the 1-partition run of the same target, and the cluster's
to the standalone's at the same partition count.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from typing import Any

# packaging/cluster.sh's URLs: both brokers, and the two function workers' REST API.
CLUSTER_SERVICE_URL = "pulsar://127.0.0.1:6660,127.0.0.1:6661"
CLUSTER_ADMIN_URL = "http://127.0.0.1:8090,127.0.0.1:8091"
CLUSTER_FUNCTIONS_URL = "http://127.0.0.1:6760,127.0.0.1:6761"
CLUSTER_DIR = ".cache/pulsar/cluster"  # <name>/pid of each of its processes
# The loop topics partitioned in a partitioned run (models, metrics and dead-letters never are), and the
# functions run at PARALLELISM then: one instance on a partitioned topic shows only the topic's cost. The
# joiner stays one instance (two inputs on Key_Shared would split its pairs: docs/production.md).
PARTITIONED_TOPICS = ("events", "features", "predictions", "labels", "examples")
PARALLEL_FUNCTIONS = ("features", "scorer")
PARALLELISM = 2
FUNCTION_KEYS = ("features", "scorer", "joiner", "learner", "bench client")


def parse_partitions(text: str) -> tuple[int, ...]:
    """``--partitions 1,2,4``: distinct positive counts, 1 first (every ratio is to the 1-partition run).

    >>> parse_partitions("4,1,2")
    (1, 2, 4)
    """
    try:
        counts = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--partitions {text!r}: a comma-separated list of integers"
        ) from None
    if not counts or counts[0] != 1:
        raise argparse.ArgumentTypeError(
            f"--partitions {text!r}: must include 1 (the other runs are compared to the 1-partition run)"
        )
    return tuple(counts)


def _ratio(value: float | None, base: float | None) -> float | None:
    """``value / base`` rounded, ``None`` when either is missing, zero or NaN."""
    if value is None or base is None or not base or math.isnan(value) or math.isnan(base):
        return None
    return round(value / base, 3)


def function_of(process: str) -> str | None:
    """The function (or the bench client) a CPU line's process name is of, ``None`` for a Pulsar process.

    >>> function_of("loop-p2-features"), function_of("bench client"), function_of("broker-1")
    ('features', 'bench client', None)
    """
    name = process.rsplit("-", 1)[-1]
    return name if name in FUNCTION_KEYS else None


def summarise(loop: Mapping[str, Any], fixed_rate: int, load_avg: float) -> dict[str, Any]:
    """One loop run's line: sustained events/s, p99 at ``fixed_rate`` and near saturation, CPU µs/event
    (per process, and the totals of the Pulsar processes, of the functions and of every process), and the
    load average."""
    latency = loop.get("latency_ms", {})
    near = latency.get(str(loop.get("near_saturation_rate")), {})
    cpu = dict(loop.get("cpu_us_per_event") or {})
    pulsar = [us for name, us in cpu.items() if function_of(name) is None]
    return {
        "events_per_s": loop["events_per_s"],
        "p99_ms": latency.get(str(fixed_rate), {}).get("p99"),
        "p99_ms_near_saturation": near.get("p99"),
        "fixed_rate": fixed_rate,
        "cpu_us_per_event": cpu,
        "pulsar_cpu_us_per_event": round(sum(pulsar), 1) if pulsar else None,
        "functions_cpu_us_per_event": round(
            sum(us for name, us in cpu.items() if function_of(name) not in (None, "bench client")), 1
        ),
        "total_cpu_us_per_event": round(sum(cpu.values()), 1),
        "load_avg": round(load_avg, 2),
    }


def with_ratios_to_one(runs: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each run (keyed by its partition count) with its rate and p99 as ratios to the ``"1"`` run's.

    >>> runs = with_ratios_to_one({"1": {"events_per_s": 300.0, "p99_ms": 100.0},
    ...                            "2": {"events_per_s": 450.0, "p99_ms": 80.0}})
    >>> runs["2"]["ratio_to_1"]
    {'events_per_s': 1.5, 'p99_ms': 0.8}
    """
    one = runs.get("1", {})
    out = {}
    for count, run in runs.items():
        if "events_per_s" not in run or count == "1":
            out[count] = dict(run)
            continue
        ratios = {key: _ratio(run.get(key), one.get(key)) for key in ("events_per_s", "p99_ms")}
        out[count] = {**run, "ratio_to_1": ratios}
    return out


def cluster_to_standalone(
    cluster: Mapping[str, dict[str, Any]], standalone: Mapping[str, dict[str, Any]]
) -> dict[str, dict[str, float | None]]:
    """Per partition count both ran: cluster / standalone of the rate, the p99 and the CPU per event."""
    keys = ("events_per_s", "p99_ms", "pulsar_cpu_us_per_event", "functions_cpu_us_per_event")
    return {
        count: {key: _ratio(run.get(key), standalone[count].get(key)) for key in keys}
        for count, run in cluster.items()
        if "events_per_s" in run and "events_per_s" in standalone.get(count, {})
    }
