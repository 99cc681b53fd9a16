"""The ``record_metric`` names: what the functions record is what the docs and the Grafana dashboard use."""

from __future__ import annotations

import json
import re
from pathlib import Path

from loops import replay_through

from streamloop.runtime.runner import Runner
from streamloop.tools.demo import drifting_stream
from streamloop.worker.metricnames import INSTANCE_METRICS, USER_METRICS

REPO = Path(__file__).resolve().parents[1]
DASHBOARD = REPO / "packaging" / "grafana" / "streamloop.json"


def dashboard_queries() -> list[str]:
    return [t["expr"] for panel in json.loads(DASHBOARD.read_text())["panels"] for t in panel["targets"]]


def test_the_dashboard_queries_only_metrics_that_exist():
    queries = dashboard_queries()
    used_series = {name for q in queries for name in re.findall(r"\b(pulsar_function_\w+)", q)}
    assert used_series <= INSTANCE_METRICS, used_series - INSTANCE_METRICS
    used_names = {name for q in queries for name in re.findall(r'metric="([^"]+)"', q)}
    assert used_names <= set(USER_METRICS), used_names - set(USER_METRICS)
    assert used_names == set(USER_METRICS)  # and every recorded name has a panel


def test_an_embedded_run_records_only_documented_names():
    runner = Runner.from_directory(REPO / "pulsar-config")
    pairs = list(drifting_stream(1500, 750))
    replay_through(runner, pairs, label_delay=50)
    recorded = {(function, name) for function, metrics in runner.metrics.items() for name in metrics.count}
    runner.stop()
    for function, name in recorded:
        assert name in USER_METRICS and function in USER_METRICS[name].functions, (function, name)
    names = {name for _, name in recorded}
    assert {"joined", "examples_learned", "promotions", "served_accuracy", "models_loaded"} <= names


def test_the_metrics_page_documents_every_name():
    page = (REPO / "docs" / "metrics.md").read_text()
    for name in USER_METRICS:
        assert f"`{name}`" in page
    assert "packaging/grafana/streamloop.json" in page
