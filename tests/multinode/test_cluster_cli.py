"""The ``streamloop`` commands on the multi-node cluster, as a user runs them: ``validate --admin-url``,
``deploy --partitions 2`` with features and scorer at parallelism 2 (their instances on both workers), then
``train``, ``replay``, ``status`` and ``report`` each through one broker only (the first, then the
second), and ``undeploy --topics``."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import orjson
import pytest
import yaml
from cli_run import CONFIG_DIR, ok, streamloop
from cluster import Pulsar, wait_for
from topology import FUNCTIONS_URL, SERVICE_URL

from streamloop.tools.admin import Admin

pytestmark = [pytest.mark.pulsar, pytest.mark.cluster]
EVENTS = 600
BROKERS = ("http://127.0.0.1:8090", "http://127.0.0.1:8091")
SCALED = ("features", "scorer")


def scaled_config_dir(into: Path) -> Path:
    """``pulsar-config`` with features and scorer at parallelism 2 (what a user edits)."""
    into.mkdir()
    for path in CONFIG_DIR.glob("*.yaml"):
        config = yaml.safe_load(path.read_text())
        if config["name"] in SCALED:
            config["parallelism"] = 2
        (into / path.name).write_text(yaml.safe_dump(config, sort_keys=False))
    return into


def test_deploy_replay_status_report_on_the_cluster_through_either_broker(pulsar: Pulsar, tmp_path):
    namespace = f"public/mn{uuid.uuid4().hex[:8]}"
    config_dir = scaled_config_dir(tmp_path / "config")
    workers = ("--functions-url", FUNCTIONS_URL)

    def admin(broker: str) -> tuple[str, ...]:
        return ("--admin-url", broker, *workers, "--namespace", namespace, "--config-dir", config_dir)

    def binary(broker_port: int) -> tuple[str, ...]:
        return ("--service-url", f"pulsar://127.0.0.1:{broker_port}", "--namespace", namespace)

    try:
        deployed = ok(
            streamloop(
                "deploy", *admin(BROKERS[0]), "--partitions", 2, "--wait", 240, cwd=tmp_path, timeout=400
            )
        )
        print(deployed.stdout)  # with pytest -s: the table a user sees, one row per instance and its worker
        hosts = {
            m.group(1): m.group(2)
            for m in re.finditer(r"^(\w+)\s+\d+\s+(worker-\d)\s+yes\b", deployed.stdout, re.M)
        }
        rows = re.findall(r"^(features|scorer)\s+\d+\s+(worker-\d)\s+yes\b", deployed.stdout, re.M)
        assert len(rows) == 4 and {w for _, w in rows} == {"worker-1", "worker-2"}, deployed.stdout
        assert {"joiner", "learner"} <= set(hosts), deployed.stdout
        checked = ok(streamloop("validate", config_dir, "--admin-url", BROKERS[1], "--namespace", namespace))
        assert f"persistent://{namespace}/events: 2 partitions" in checked.stdout, checked.stdout

        ok(streamloop("dataset", "--events", EVENTS, "--drift-at", 10_000, "--out", "data", cwd=tmp_path))
        features_yaml = config_dir / "features.yaml"
        trained = ok(
            streamloop(
                "train", "data/events.jsonl", "--labels", "data/labels.jsonl", "--features-config",
                features_yaml, "--version", "mn-1", *binary(6660), cwd=tmp_path,
            )
        )  # fmt: skip
        assert "published model default:mn-1" in trained.stdout, trained.stdout
        replayed = ok(
            streamloop(
                "replay", "data/events.jsonl", "--labels", "data/labels.jsonl", "--label-delay", 50,
                "--rate", 300, *binary(6661), cwd=tmp_path,
            )
        )  # fmt: skip
        assert f"replayed {EVENTS} events and {EVENTS} labels" in replayed.stdout, replayed.stdout

        client = Pulsar(service_url=SERVICE_URL)
        predictions = client.consume(f"persistent://{namespace}/predictions", EVENTS, timeout=180)
        assert len({orjson.loads(p)["id"] for _, p in predictions}) == EVENTS
        assert "default:mn-1" in {orjson.loads(p)["model"] for _, p in predictions}

        def learned_all() -> str | None:
            result = streamloop("status", *admin(BROKERS[1]), cwd=tmp_path)
            learner = re.search(r"^learner\s+0\s+worker-\d\s+yes\s+(\d+)\s+(\d+)", result.stdout, re.M)
            return result.stdout if learner and int(learner.group(2)) >= EVENTS else None

        print(wait_for(learned_all, 180, "the learner to process every example", every=2.0))
        reported = ok(streamloop("report", *binary(6661), "--out", "report", cwd=tmp_path))
        assert "latest window: default:mn-1 at" in reported.stdout, reported.stdout
        partitions = Admin(BROKERS[1]).request("GET", f"/admin/v2/persistent/{namespace}/examples/partitions")
        assert partitions["partitions"] == 2
    finally:
        undeployed = streamloop("undeploy", *admin(BROKERS[1]), "--topics", cwd=tmp_path)
        Admin(BROKERS[0]).delete_namespace(namespace, topics=False, within=10, every=3, timeout=60)
    assert undeployed.returncode == 0 and f"deleted {namespace}/learner" in undeployed.stdout, (
        undeployed.stdout
    )
