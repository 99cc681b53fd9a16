"""The multi-node cluster ``packaging/cluster.sh`` runs on 127.0.0.1: URLs, processes, and its script."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cluster import REPO, Pulsar

from streamloop.tools.admin import Admin

SERVICE_URL = "pulsar://127.0.0.1:6660,127.0.0.1:6661"
ADMIN_URL = "http://127.0.0.1:8090,127.0.0.1:8091"
FUNCTIONS_URL = "http://127.0.0.1:6760,127.0.0.1:6761"
RUN = REPO / ".cache" / "pulsar" / "cluster"
WORKERS = ("worker-1", "worker-2")
CLUSTER = Pulsar(
    service_url=SERVICE_URL,
    admin_url=ADMIN_URL,
    functions_url=FUNCTIONS_URL,
    logs=tuple(RUN / worker / "logs" for worker in WORKERS),
)


def unavailable() -> str | None:
    """Why the cluster cannot be used, or ``None`` when brokers and workers answer."""
    return Admin(ADMIN_URL, functions_url=FUNCTIONS_URL).unavailable(timeout=5)


def cluster_sh(*args: str, timeout: float = 300.0) -> str:
    """Run ``packaging/cluster.sh <args>``; its output (it fails the test when the script fails)."""
    done = subprocess.run(
        [str(REPO / "packaging" / "cluster.sh"), *args], capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"cluster.sh {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout + done.stderr


def pid(process: str) -> int | None:
    """The pid ``cluster.sh`` recorded for ``process`` (``broker-1``...), if it runs."""
    path: Path = RUN / process / "pid"
    return int(path.read_text()) if path.exists() else None


def broker_of(admin: Admin, topic: str) -> str:
    """``host:port`` of the broker that owns ``topic`` now (a lookup)."""
    answer = admin.request("GET", "/lookup/v2/topic/" + topic.replace("://", "/", 1), timeout=30)
    return answer["brokerUrl"].removeprefix("pulsar://")
