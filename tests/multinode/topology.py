"""The multi-node cluster ``packaging/cluster.sh`` runs on 127.0.0.1: URLs, processes, and its script."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from cluster import REPO, Pulsar

from streamloop.tools.admin import Admin

SERVICE_URL = "pulsar://127.0.0.1:6660,127.0.0.1:6661"
ADMIN_URL = "http://127.0.0.1:8090,127.0.0.1:8091"
FUNCTIONS_URL = "http://127.0.0.1:6760,127.0.0.1:6761"
RUN = REPO / ".cache" / "pulsar" / "cluster"
WORKERS = ("worker-1", "worker-2")
STUCK_WAIT = 90.0  # seconds before a function that does not run makes the workers' threads looked at
STUCK_WORKERS_RESTARTED: list[dict[str, Any]] = []  # what the cluster tests' reports carry


class ClusterPulsar(Pulsar):
    """The cluster's :class:`Pulsar`, whose waits for instances get past one known Pulsar 4.0.8 hang.

    A function worker can block for good reading a package it has just stored in BookKeeper
    (DistributedLog's sync reader waits on its read-ahead queue) while it holds the runtime manager's
    lock: the instances assigned to it never start and its status calls time out (seen in CI, thread dump
    in the note of issue 17). A wait that ran :data:`STUCK_WAIT` s without the instances takes a thread
    dump of each worker; one stuck exactly there is restarted (``cluster.sh restart``) and recorded in
    :data:`STUCK_WORKERS_RESTARTED`, and the wait goes on. Any other reason still fails the wait.
    """

    def wait_for_status(self, name: str, running: int = 1, timeout: float = 180.0) -> dict[str, Any]:
        started = time.monotonic()
        try:
            return super().wait_for_status(name, running=running, timeout=min(timeout, STUCK_WAIT))
        except AssertionError:
            stuck = [worker for worker in WORKERS if stuck_in_package_download(worker)]
            if not stuck:
                raise
        for worker in stuck:
            print(f"cluster: {worker} is stuck downloading a function package; restarting it")
            STUCK_WORKERS_RESTARTED.append({"worker": worker, "while_waiting_for": name})
            cluster_sh("restart", worker)
        left = max(timeout - (time.monotonic() - started), STUCK_WAIT)
        return super().wait_for_status(name, running=running, timeout=left)


def stuck_in_package_download(worker: str) -> bool:
    """Whether ``worker``'s scheduler thread is inside ``downloadFromBookkeeper`` (a thread dump: SIGQUIT
    makes the JVM print one to its stdout, the worker's ``out.log``)."""
    process = pid(worker)
    if process is None:
        return False
    log = RUN / worker / "logs" / "out.log"
    start = log.stat().st_size
    os.kill(process, signal.SIGQUIT)
    dump, deadline = "", time.monotonic() + 15
    while "JNI global refs" not in dump and time.monotonic() < deadline:  # the end of a HotSpot dump
        time.sleep(0.5)
        with log.open("rb") as out:
            out.seek(start)
            dump = out.read().decode(errors="replace")
    scheduler = dump.partition('"worker-scheduler-0"')[2].partition("\n\n")[0]
    return "downloadFromBookkeeper" in scheduler


CLUSTER = ClusterPulsar(
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
