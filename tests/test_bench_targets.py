"""The bench's deployed loop by partition count and on the cluster: options, ratios, report, skipping.

No broker: the loop results are shaped as ``run_loop_on_pulsar`` returns them.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import pytest

from streamloop.tools.bench import broker
from streamloop.tools.bench.__main__ import parse_args
from streamloop.tools.bench.compare import (
    CLUSTER_FUNCTIONS_URL,
    CLUSTER_SERVICE_URL,
    cluster_to_standalone,
    parse_partitions,
    summarise,
    with_ratios_to_one,
)
from streamloop.tools.bench.pulsar_io import cpu_seconds, server_pids
from streamloop.tools.bench.report import loop_target_lines, skipped
from streamloop.tools.connection import Connection

CLOSED = "127.0.0.1:9"  # the discard port: nothing answers there


def loop_result(rate: float, p99: float, broker_us: dict[str, float]) -> dict[str, Any]:
    """What ``run_loop_on_pulsar`` returns, with ``load_avg`` as ``Session.loop`` adds it."""
    return {
        "events_per_s": rate,
        "predictions_per_s": rate * 1.1,
        "latency_ms": {
            "100": {"p50": 20.0, "p99": 60.0, "n": 2000, "missing": 0},
            "500": {"p50": 50.0, "p99": p99, "n": 5000, "missing": 0},
            "240": {"p50": 80.0, "p99": p99 * 2, "n": 2400, "missing": 0},
        },
        "near_saturation_rate": 240,
        "cpu_us_per_event": {
            **broker_us,
            "features": 400.0,
            "scorer": 500.0,
            "joiner": 300.0,
            "learner": 200.0,
        },
        "functions": ["features", "joiner", "learner", "scorer"],
        "load_avg": 1.75,
    }


def test_partitions_option_sorts_and_needs_the_one_partition_run() -> None:
    assert parse_args([]).partitions == (1, 2, 4)
    assert parse_args(["--partitions", "4,1"]).partitions == (1, 4)
    assert parse_args(["--partitions", "1"]).partitions == (1,)
    with pytest.raises(argparse.ArgumentTypeError, match="must include 1"):
        parse_partitions("2,4")
    with pytest.raises(argparse.ArgumentTypeError, match="comma-separated list of integers"):
        parse_partitions("1,two")


def test_cluster_option_defaults_to_the_cluster_scripts_urls() -> None:
    args = parse_args([])
    assert args.cluster is True
    assert args.cluster_service_url == CLUSTER_SERVICE_URL == "pulsar://127.0.0.1:6660,127.0.0.1:6661"
    assert args.cluster_functions_url == CLUSTER_FUNCTIONS_URL
    assert parse_args(["--no-cluster"]).cluster is False
    assert parse_args(["--cluster-admin-url", "http://h:1"]).cluster_admin_url == "http://h:1"
    standalone = Connection.from_args(parse_args(["--functions-url", "http://w:6750"]), environ={})
    assert standalone.admin().functions_url == "http://w:6750"  # the standalone's own, not the cluster's


def test_a_run_is_summarised_with_its_p99_cpu_split_and_load() -> None:
    run = summarise(loop_result(400.0, 150.0, {"broker": 2000.0, "bench client": 100.0}), 500, 1.75)
    assert run["events_per_s"] == 400.0 and run["p99_ms"] == 150.0
    assert run["p99_ms_near_saturation"] == 300.0  # at near_saturation_rate, not the fixed rate
    assert run["pulsar_cpu_us_per_event"] == 2000.0  # the broker; the bench client is not Pulsar's
    assert run["functions_cpu_us_per_event"] == 1400.0
    assert run["load_avg"] == 1.75


def test_partitioned_runs_are_compared_to_the_one_partition_run() -> None:
    runs = with_ratios_to_one(
        {
            "1": summarise(loop_result(300.0, 200.0, {"broker": 2000.0}), 500, 1.0),
            "2": summarise(loop_result(450.0, 100.0, {"broker": 2000.0}), 500, 1.0),
            "4": {"status": "error", "reason": "TimeoutError: warm-up"},
        }
    )
    assert "ratio_to_1" not in runs["1"]
    assert runs["2"]["ratio_to_1"] == {"events_per_s": 1.5, "p99_ms": 0.5}
    assert runs["4"] == {"status": "error", "reason": "TimeoutError: warm-up"}
    undrained = with_ratios_to_one({"1": {"events_per_s": 0.0, "p99_ms": 90.0}, "2": {"events_per_s": 9.0}})
    assert undrained["2"]["ratio_to_1"] == {"events_per_s": None, "p99_ms": None}  # never divides by 0


def test_the_cluster_is_compared_per_partition_count_the_standalone_ran() -> None:
    standalone = {
        "1": summarise(loop_result(400.0, 100.0, {"broker": 2000.0}), 500, 1.0),
        "2": {"status": "error", "reason": "x"},
    }
    servers = {"zk": 100.0, "bookie-1": 500.0, "bookie-2": 500.0, "broker-1": 1500.0, "broker-2": 1400.0}
    cluster = {
        "1": summarise(loop_result(200.0, 150.0, servers), 500, 1.0),
        "2": summarise(loop_result(250.0, 150.0, servers), 500, 1.0),
    }
    ratios = cluster_to_standalone(cluster, standalone)
    assert set(ratios) == {"1"}  # the standalone's 2-partition run failed: nothing to compare with
    assert ratios["1"] == {
        "events_per_s": 0.5,
        "p99_ms": 1.5,
        "pulsar_cpu_us_per_event": 2.0,
        "functions_cpu_us_per_event": 1.0,
    }


def test_the_report_prints_each_run_its_ratios_and_why_the_cluster_was_skipped() -> None:
    runs = with_ratios_to_one(
        {
            "1": summarise(loop_result(400.0, 100.0, {"broker": 2000.0}), 500, 1.25),
            "2": summarise(loop_result(600.0, 80.0, {"broker": 2000.0}), 500, 1.5),
        }
    )
    reason = "needs the cluster (packaging/cluster.sh up): no broker at http://127.0.0.1:8090"
    lines = loop_target_lines({"loop_partitions": {"status": "ok", "runs": runs}, "cluster": skipped(reason)})
    text = "\n".join(lines)
    assert "p99 at 500 ev/s" in text
    assert "standalone  1p     400 ev/s  p99    100 /    200 ms" in text and "load 1.25" in text
    assert "standalone  2p     600 ev/s" in text and "to 1p: rate x1.50 p99 x0.80" in text
    assert f"cluster    skipped: {reason}" in text
    assert "CPU µs per event, standalone, 1 partition" in text and "broker 2,000, features 400" in text


def test_the_report_puts_each_cluster_run_beside_the_standalone() -> None:
    standalone = {"1": summarise(loop_result(400.0, 100.0, {"broker": 2000.0}), 500, 1.0)}
    cluster_runs = with_ratios_to_one(
        {
            "1": summarise(loop_result(200.0, 150.0, {"broker-1": 2000.0, "bookie-1": 2000.0}), 500, 2.5),
            "2": {"status": "error", "reason": "TimeoutError: drain"},
        }
    )
    sections = {
        "loop_partitions": {"status": "ok", "runs": standalone},
        "cluster": {
            "status": "ok",
            "runs": cluster_runs,
            "ratio_to_standalone": cluster_to_standalone(cluster_runs, standalone),
        },
    }
    text = "\n".join(loop_target_lines(sections))
    assert "cluster     1p     200 ev/s" in text and "load 2.50" in text
    assert "to standalone: rate x0.50 p99 x1.50 Pulsar CPU x2.00" in text
    assert "cluster     2p  error: TimeoutError: drain" in text
    assert "CPU µs per event, cluster, 1 partition" in text and "broker-1 2,000, bookie-1 2,000" in text


def test_cluster_pids_are_read_from_the_cluster_scripts_pid_files(tmp_path: Path) -> None:
    for name, text in (("zk", "123\n"), ("broker-1", "456"), ("worker-1", "")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "pid").write_text(text)
    (tmp_path / "client.conf").write_text("not a process")
    assert server_pids(tmp_path) == {"broker-1": 456, "zk": 123}  # an empty pid file: not running
    assert server_pids(tmp_path / "missing") == {}


def test_the_cpu_of_the_given_processes_is_counted_instead_of_a_standalone() -> None:
    sum(i * i for i in range(200_000))  # some CPU time of this process
    cpu = cpu_seconds("no-such-namespace", ["features"], servers={"zk": os.getpid(), "gone": 2**22 + 1})
    assert set(cpu) == {"zk", "gone", "features", "bench client"}  # no "broker": the standalone is not read
    assert cpu["zk"] > 0 and cpu["gone"] == 0.0 and cpu["features"] == 0.0


def test_without_a_standalone_or_a_cluster_every_loop_target_is_skipped_with_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("PULSAR_CLIENT_CONF", "STREAMLOOP_FUNCTIONS_URL"):
        monkeypatch.delenv(name, raising=False)
    urls = ["--admin-url", f"http://{CLOSED}", "--service-url", f"pulsar://{CLOSED}"]
    cluster = ["--cluster-admin-url", f"http://{CLOSED}", "--cluster-functions-url", f"http://{CLOSED}"]

    def prepare() -> Any:
        raise AssertionError("the inputs are prepared only for a broker that answers")

    sections = broker.measure(parse_args([*urls, *cluster]), prepare)
    assert sections["loop_partitions"]["status"] == "skipped"
    assert sections["loop_partitions"]["reason"].startswith(broker.SKIPPED)
    assert sections["cluster"]["status"] == "skipped"
    assert (
        sections["cluster"]["reason"].startswith(broker.NO_CLUSTER)
        and CLOSED in sections["cluster"]["reason"]
    )
    not_asked = broker.measure(parse_args([*urls, "--no-cluster"]), prepare)
    assert not_asked["cluster"] == {"status": "skipped", "reason": broker.NOT_ASKED}
