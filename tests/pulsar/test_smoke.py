"""Smoke tests of the deployment path on a real Pulsar: zip layout, RawBytes SerDe, keyed publish with
MANUAL acks in the publish callback, and function state in ZooKeeper mode."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cluster import ADMIN, NAMESPACE, REPO, TENANT, Pulsar, make_zip, topic, wait_for, wheels_from

pytestmark = pytest.mark.pulsar

HERE = Path(__file__).resolve().parent
PACKAGE = REPO / "functions" / "streamloop"


def write_config(path: Path, name: str, source: str, sink: str) -> Path:
    """The function config YAML users write, for the smoke function."""
    path.write_text(
        f"tenant: {TENANT}\n"
        f"namespace: {NAMESPACE}\n"
        f"name: {name}\n"
        "className: smoke_fn.KeyedEcho\n"
        "inputSpecs:\n"
        f"  {source}:\n"
        "    serdeClassName: streamloop.worker.codec.RawBytes\n"
        f"output: {sink}\n"
        "processingGuarantees: MANUAL\n"
        "subscriptionPosition: Earliest\n"
        "parallelism: 1\n"
    )
    return path


def backlog(source: str) -> int:
    """Unacknowledged messages over all subscriptions of ``source``."""
    stats = ADMIN.topic_stats(source, timeout=5)
    return sum(s["msgBacklog"] for s in stats["subscriptions"].values())


def test_keyed_publish_manual_ack_and_state(pulsar: Pulsar, deployed: list[str], unique: str, tmp_path: Path):
    """Code-only zip (dependencies from the worker's python3): keys kept, inputs acked, state persists."""
    name, source, sink = f"smoke-{unique}", topic(f"smoke-in-{unique}"), topic(f"smoke-out-{unique}")
    package = make_zip(tmp_path / "smoke.zip", modules=[HERE / "smoke_fn.py"], packages=[PACKAGE])
    config = write_config(tmp_path / "smoke.yaml", name, source, sink)

    started = time.monotonic()
    deployed.append(pulsar.deploy(config, package))
    pulsar.wait_for_status(name, running=1)
    print(f"\n{name}: create -> running in {time.monotonic() - started:.1f}s (code-only zip)")

    sent = [("a", b"m0"), ("b", b"m1"), ("a", b"m2"), ("a", b"m3"), ("b", b"m4")]
    pulsar.produce(source, sent)
    got = pulsar.consume(sink, len(sent))
    assert got == [("a", b"m0|1"), ("b", b"m1|1"), ("a", b"m2|2"), ("a", b"m3|3"), ("b", b"m4|2")]
    wait_for(lambda: backlog(source) == 0, 30, "every input acked", every=0.5)

    state = pulsar.admin(
        "functions",
        "querystate",
        "--tenant",
        TENANT,
        "--namespace",
        NAMESPACE,
        "--name",
        name,
        "--key",
        "count.a",
    )
    assert json.loads(state.stdout)["stringValue"] == "3"

    instance = pulsar.status(name)["instances"][0]["status"]
    assert instance["running"] and not instance["error"]
    assert instance["numSystemExceptions"] == 0 and instance["numUserExceptions"] == 0

    # State outlives the instance process.
    pulsar.admin("functions", "restart", "--tenant", TENANT, "--namespace", NAMESPACE, "--name", name)
    time.sleep(2)
    pulsar.wait_for_status(name, running=1)
    pulsar.produce(source, [("a", b"m5")])
    assert pulsar.consume(sink, len(sent) + 1)[-1] == ("a", b"m5|4")


def test_zip_with_all_wheels_installs_at_instance_start(
    pulsar: Pulsar, deployed: list[str], unique: str, tmp_path: Path
):
    """The ``make package`` layout: every dependency wheel in deps/, pip-installed at each start."""
    dist = REPO / "dist" / "streamloop.zip"
    if not dist.exists():  # what `make package` builds (downloads the closure's wheels once)
        subprocess.run([sys.executable, "packaging/build_zip.py"], cwd=REPO, check=True, timeout=900)
    wheels = wheels_from(dist, tmp_path / "wheels")
    name, source, sink = f"smoke-deps-{unique}", topic(f"deps-in-{unique}"), topic(f"deps-out-{unique}")
    package = make_zip(
        tmp_path / "smokedeps.zip", modules=[HERE / "smoke_fn.py"], packages=[PACKAGE], wheels=wheels
    )
    config = write_config(tmp_path / "smokedeps.yaml", name, source, sink)

    started = time.monotonic()
    deployed.append(pulsar.deploy(config, package))
    pulsar.wait_for_status(name, running=1, timeout=600)
    pulsar.produce(source, [("k", b"x")])
    assert pulsar.consume(sink, 1, timeout=600) == [("k", b"x|1")]
    print(f"\n{name}: create -> first output in {time.monotonic() - started:.1f}s ({len(wheels)} wheels)")
