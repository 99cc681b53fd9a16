"""Smoke test of ``python -m streamloop.tools.bench --quick``: it runs, writes every section (no timings)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from streamloop.tools.bench.broker import NAMES, QUICK
from streamloop.tools.bench.families import FAMILIES
from streamloop.tools.bench.loop import percentiles
from streamloop.tools.bench.rates import steady_rate
from streamloop.tools.bench.report import targets

REPO = Path(__file__).resolve().parents[1]
LOCAL = ("ceiling", "embedded", "embedded_identity")
MEMORY = "joiner_memory"
FAMILY_FIELDS = (
    "learner_examples_per_cpu_s",
    "export_ms",
    "onnx_bytes",
    "onnx_us_per_row",
    "river_us_per_row",
)
BROKER = NAMES  # every broker section


def test_quick_bench_writes_every_section(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, "-m", "streamloop.tools.bench", "--quick", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stderr
    assert "embedded whole loop / library-chain ceiling" in run.stdout
    doc = orjson.loads(out.read_bytes())
    sections = doc["sections"]
    assert set(sections) == {*LOCAL, MEMORY, "families", "rebuild", *BROKER}
    for name in LOCAL:
        assert sections[name]["status"] == "ok"
        assert sections[name]["events_per_s"] > 0 and sections[name]["events_per_cpu_s"] > 0
        assert all(rate > 0 for rate in sections[name]["runs_events_per_s"])
    assert all(us > 0 for us in sections["ceiling"]["breakdown_cpu_us_per_event"].values())
    assert sections["embedded"]["ratio_to_ceiling"] > 0
    assert sections["embedded"]["outputs"]["predictions"] == doc["workload"]["events"]
    memory = sections[MEMORY]
    assert memory["status"] == "ok" and memory["pending_per_side"] == doc["workload"]["events"]
    assert memory["rss_mb_full"] >= memory["rss_mb_empty"] > 0 and "joiner RSS" in run.stdout
    families = sections["families"]
    assert families["status"] == "ok" and set(families) == {"status", *(f.name for f in FAMILIES)}
    for family in FAMILIES:
        assert families[family.name]["status"] == "ok"
        assert all(families[family.name][field] > 0 for field in FAMILY_FIELDS), family.name
        assert family.name in run.stdout
    rebuilt = sections["rebuild"]
    events = doc["workload"]["events"]
    assert rebuilt["events"] == rebuilt["examples"] == [events, 4 * events]  # every event labelled
    assert all(rate > 0 for rate in rebuilt["events_per_cpu_s"]) and "rebuild (point in time" in run.stdout
    for name in BROKER:  # --quick never touches a broker, reachable or not
        assert sections[name] == {"status": "skipped", "reason": QUICK}
    ratio = doc["targets"]["embedded_vs_ceiling"]
    assert ratio["value"] == round(sections["embedded"]["ratio_to_ceiling"], 3)
    assert ratio["met"] is (sections["embedded"]["ratio_to_ceiling"] >= 0.6)
    for key, target in doc["targets"].items():  # every broker target skipped, with why
        if key != "embedded_vs_ceiling":
            assert target["standing"] == "skipped" and target["reason"] == QUICK and target["met"] is None


def test_broker_rates_skip_start_up_and_never_divide_by_zero() -> None:
    series = [(0.0, 0), (1.0, 0), (2.0, 100), (3.0, 600), (4.0, 1000)]
    assert steady_rate(series, 1000) == 800 / (3.75 - 2.0)  # 10% at t=2.0, 90% at t=3.75
    assert steady_rate([(0.0, 0), (5.0, 0), (6.0, 1000)], 1000) == pytest.approx(1000.0)  # one gap
    assert math.isnan(steady_rate([(0.0, 0), (1.0, 0)], 1000))
    assert percentiles([1.0, 2.0, 3.0])["p50"] == 2.0


def test_a_function_that_never_finished_misses_the_worst_function_target() -> None:
    functions = {"features": {"ratio_to_identity": 0.9}, "scorer": {"ratio_to_identity": math.nan}}
    skipped = {"status": "skipped", "reason": "needs a broker"}
    sections = {
        "embedded": {"status": "ok", "ratio_to_ceiling": 0.7},
        "deployed_functions": {"status": "ok", **functions},
        "loop_latency": skipped,
        "identity_loop": skipped,
        "scaling": skipped,
    }
    doc = targets(sections)
    assert (
        doc["functions_vs_identity"]["met"] is False and doc["functions_vs_identity"]["standing"] == "MISSED"
    )
    assert doc["embedded_vs_ceiling"]["met"] is True
