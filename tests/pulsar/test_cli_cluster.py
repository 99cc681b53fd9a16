"""The ``streamloop`` cluster commands on the real standalone, run as a user runs them, in a namespace of
their own: deploy → status → train (publish) → replay → report, the functions' Prometheus metrics on the
worker's ``/metrics``, then undeploy."""

from __future__ import annotations

import re
import uuid

import orjson
import pytest
from cli_run import CONFIG_DIR, ok, streamloop
from cluster import ADMIN, ADMIN_URL, SERVICE_URL, Pulsar, wait_for
from namespaces import delete_namespace

from streamloop.tools.deployment import STATUS_COLUMNS
from streamloop.worker.metricnames import USER_METRICS

pytestmark = pytest.mark.pulsar
EVENTS = 600


def _user_metrics(namespace: str) -> dict[str, float]:
    """``metric`` label → count of ``pulsar_function_user_metric_count`` series of ``namespace``."""
    text = ADMIN.request("GET", "/metrics/", timeout=30)
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("pulsar_function_user_metric_count{") and f'namespace="{namespace}"' in line:
            name = re.search(r'metric="([^"]+)"', line).group(1)
            found[name] = found.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return found


def test_deploy_replay_report_and_metrics_on_the_standalone(pulsar: Pulsar, tmp_path):
    namespace = f"public/cli{uuid.uuid4().hex[:8]}"  # no dash: function state lives in BookKeeper namespaces
    cluster = ("--admin-url", ADMIN_URL, "--namespace", namespace, "--config-dir", CONFIG_DIR)
    broker = ("--service-url", SERVICE_URL, "--namespace", namespace)
    try:
        deployed = ok(streamloop("deploy", *cluster, "--wait", 240, cwd=tmp_path, timeout=400))
        for name in ("features", "scorer", "joiner", "learner"):
            assert f"created {namespace}/{name}" in deployed.stdout
            assert re.search(rf"^{name}\s+0\s+\S+\s+yes\b", deployed.stdout, re.M), deployed.stdout
        retention = pulsar_get(f"/admin/v2/persistent/{namespace}/examples/retention")
        assert retention == {"retentionTimeInMinutes": -1, "retentionSizeInMB": -1}  # the history: forever

        ok(streamloop("dataset", "--events", EVENTS, "--drift-at", 10_000, "--out", "data", cwd=tmp_path))
        trained = ok(
            streamloop(
                "train",
                "data/events.jsonl",
                "--labels",
                "data/labels.jsonl",
                "--features-config",
                CONFIG_DIR / "features.yaml",
                "--version",
                "boot-1",
                *broker,
                cwd=tmp_path,
            )
        )
        assert (
            "published model default:boot-1" in trained.stdout
            and f"persistent://{namespace}/models" in trained.stdout
        )

        replayed = ok(
            streamloop(
                "replay",
                "data/events.jsonl",
                "--labels",
                "data/labels.jsonl",
                "--label-delay",
                50,
                "--rate",
                300,
                *broker,
                cwd=tmp_path,
            )
        )
        assert (
            f"replayed {EVENTS} events and {EVENTS} labels to {SERVICE_URL} ({namespace})" in replayed.stdout
        )
        assert f"{EVENTS}/{EVENTS} events" in replayed.stderr and "events/s" in replayed.stderr

        predictions = pulsar.consume(f"persistent://{namespace}/predictions", EVENTS, timeout=180)
        models = {orjson.loads(payload)["model"] for _, payload in predictions}
        assert "default:boot-1" in models  # the scorer hot-swapped the model `train` published

        def all_processed():
            result = streamloop("status", *cluster, cwd=tmp_path)
            rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:]}
            done = (
                result.returncode == 0 and int(rows["learner"][STATUS_COLUMNS.index("PROCESSED")]) >= EVENTS
            )
            return result.stdout if done else None

        table = wait_for(all_processed, 180, "the learner to process every example", every=2.0)
        print(table)  # shown with pytest -s: what a user sees
        assert table.splitlines()[0].split() == list(STATUS_COLUMNS)  # pinned in test_cli_status_offline.py
        assert re.search(rf"^features\s+0\s+\S+\s+yes\s+{EVENTS}\s+{EVENTS}\s+0\b", table, re.M), table

        # Prometheus: the functions' record_metric names on the worker's /metrics.
        # (No `promotions`: the model `train` published serves from the start, so there is no cold start.)
        expected = {"joined", "examples_learned", "models_loaded", "state_keys_saved", "served_accuracy"}

        def recorded():
            found = _user_metrics(namespace)
            return found if expected <= set(found) else None

        try:
            found = wait_for(recorded, 120, "user metrics", every=2.0)
        except AssertionError:
            raise AssertionError(
                f"expected {sorted(expected)}, /metrics has {_user_metrics(namespace)}"
            ) from None
        assert set(found) <= set(USER_METRICS), set(found) - set(USER_METRICS)
        assert found["joined"] == EVENTS and found["examples_learned"] == EVENTS

        reported = ok(
            streamloop(
                "report",
                *broker,
                "--out",
                "report",
                cwd=tmp_path,
            )
        )
        assert "latest window: default:boot-1 at" in reported.stdout, reported.stdout
        assert (
            "latency event → prediction: p50" in reported.stdout and f"({EVENTS} messages)" in reported.stdout
        )
        assert (tmp_path / "report/report.png").read_bytes().startswith(b"\x89PNG")
        assert "data:image/png;base64," in (tmp_path / "report/report.html").read_text()
    finally:
        undeployed = streamloop("undeploy", *cluster, "--topics", cwd=tmp_path)
        delete_namespace(namespace)
    assert undeployed.returncode == 0 and f"deleted {namespace}/learner" in undeployed.stdout
    gone = streamloop("status", *cluster, cwd=tmp_path)
    assert gone.returncode == 1 and "not deployed" in gone.stdout


def pulsar_get(path: str) -> object:
    """GET a JSON document from the admin REST API."""
    return ADMIN.request("GET", path, timeout=30)
