"""Helpers for tests against a real Pulsar standalone (``make pulsar-up``): admin CLI, deploys, messages.

The ``pulsar`` session fixture uses the broker at ``PULSAR_SERVICE_URL`` / ``PULSAR_ADMIN_URL`` (defaults:
127.0.0.1:6650 / :8080) and ``bin/pulsar-admin`` from ``PULSAR_HOME`` (default: the distribution
``packaging/pulsar.sh fetch`` unpacked under ``.cache/pulsar``). With no broker the tests are skipped,
unless ``STREAMLOOP_REQUIRE_PULSAR=1`` (CI sets it), which turns that into a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from streamloop.runtime.keys import KeyStore, default_key_dir
from streamloop.tools.admin import Admin, AdminError
from streamloop.tools.deployment import with_keys, write_private

REPO = Path(__file__).resolve().parents[2]
PULSAR_VERSION = os.environ.get("PULSAR_VERSION", "4.0.8")
PULSAR_HOME = Path(
    os.environ.get("PULSAR_HOME") or REPO / ".cache" / "pulsar" / f"apache-pulsar-{PULSAR_VERSION}"
)
SERVICE_URL = os.environ.get("PULSAR_SERVICE_URL", "pulsar://127.0.0.1:6650")
ADMIN_URL = os.environ.get("PULSAR_ADMIN_URL", "http://127.0.0.1:8080").rstrip("/")
ADMIN = Admin(ADMIN_URL)
TENANT, NAMESPACE = "public", "default"
# C1 only and the serial GC: a pulsar-admin call takes ~4 s instead of ~17 s on a 2-core machine.
ADMIN_JAVA_OPTS = os.environ.get("PULSAR_ADMIN_JAVA_OPTS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
HOW_TO_START = (
    "start one with `make pulsar-up` (needs Java 17+ and Maven; fetches Pulsar "
    f"{PULSAR_VERSION} into .cache/pulsar), or point PULSAR_SERVICE_URL/PULSAR_ADMIN_URL/PULSAR_HOME at yours"
)


T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout: float, what: str, every: float = 1.0) -> T:
    """Poll ``check()`` until it returns something truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def unavailable_reason() -> str | None:
    """Why the cluster cannot be used, or ``None`` when broker and functions worker both answer."""
    reason = ADMIN.unavailable(timeout=5)
    if reason:
        return reason
    if not (PULSAR_HOME / "bin" / "pulsar-admin").exists():
        return f"no Pulsar distribution at PULSAR_HOME={PULSAR_HOME} (bin/pulsar-admin)"
    return None


@dataclass
class Pulsar:
    """A running Pulsar cluster: admin CLI, deployment and message helpers, every wait bounded."""

    service_url: str = SERVICE_URL
    admin_url: str = ADMIN_URL
    home: Path = PULSAR_HOME
    namespace: str = NAMESPACE
    """Where ``delete``, ``status`` and ``log_tail`` look for functions (tenant ``public``)."""
    functions_url: str = ""
    """The functions REST API when workers run apart from the brokers (default: ``admin_url``)."""
    logs: tuple[Path, ...] = (REPO / ".cache/pulsar/run/logs",)
    """Where the workers write their instances' logs (``<logs>/functions/<tenant>/<ns>/<name>/``)."""

    @property
    def functions(self) -> str:
        """Where the functions REST API answers."""
        return self.functions_url or self.admin_url

    @property
    def rest(self) -> Admin:
        """The admin REST API of this cluster."""
        return Admin(self.admin_url, functions_url=self.functions)

    def admin(self, *args: str, timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``bin/pulsar-admin --admin-url ... <args>`` (``functions`` commands at the workers)."""
        url = self.functions if args and args[0] == "functions" else self.admin_url
        cmd = [str(self.home / "bin" / "pulsar-admin"), "--admin-url", url, *args]
        env = {**os.environ, "PULSAR_EXTRA_OPTS": ADMIN_JAVA_OPTS}
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        if check and done.returncode != 0:
            raise AssertionError(f"pulsar-admin {' '.join(args)} failed: {done.stdout}{done.stderr}")
        return done

    def deploy(self, config_yaml: Path, package: Path) -> str:
        """``functions create`` from a YAML config file and an absolute package path; returns the name.

        Like ``make deploy``, a ``generate`` secret gets its namespace's key from the key store
        (``$STREAMLOOP_KEY_DIR``, which the conftest points at a per-session directory).
        """
        config = yaml.safe_load(config_yaml.read_text())
        filled, _ = with_keys(config, KeyStore(default_key_dir()))
        with tempfile.TemporaryDirectory() as private:
            path = Path(private) / config_yaml.name
            write_private(path, yaml.safe_dump(filled, sort_keys=False))
            self.admin("functions", "create", "--function-config-file", str(path), "--py", str(package))
        return _yaml_name(config_yaml)

    def delete(self, name: str) -> None:
        """Delete the function (no error if it is already gone)."""
        self.admin(
            "functions",
            "delete",
            "--tenant",
            TENANT,
            "--namespace",
            self.namespace,
            "--name",
            name,
            check=False,
        )

    def status(self, name: str) -> dict[str, Any]:
        """The function's status JSON (the same document ``pulsar-admin functions status`` prints)."""
        return self.rest.function_status(f"{TENANT}/{self.namespace}", name, timeout=5)

    def wait_for_status(self, name: str, running: int = 1, timeout: float = 180.0) -> dict[str, Any]:
        """Poll until ``numRunning == running``; fail with the last status and the instance log tail."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = self.status(name)
                if last.get("numRunning") == running:
                    return last
            except AdminError as error:
                last = repr(error)
            time.sleep(0.5)
        raise AssertionError(f"{name}: not {running} running after {timeout}s: {last}\n{self.log_tail(name)}")

    def log_tail(self, name: str, lines: int = 40, instance: int = 0) -> str:
        """The end of an instance's log on a local cluster (empty for a remote one)."""
        for logs in (*self.logs, self.home / "logs"):
            path = logs / "functions" / TENANT / self.namespace / name / f"{name}-{instance}.log"
            if path.exists():
                return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def produce(self, topic: str, messages: Sequence[tuple[str, bytes]], timeout: float = 30.0) -> None:
        """Send ``(key, payload)`` pairs to ``topic`` and wait until all are confirmed."""
        import pulsar

        client = pulsar.Client(self.service_url, operation_timeout_seconds=int(timeout), logger=_quiet())
        try:
            producer = client.create_producer(topic, send_timeout_millis=int(timeout * 1000))
            for key, payload in messages:
                producer.send(payload, partition_key=key)
            producer.flush()
        finally:
            client.close()

    def consume(self, topic: str, count: int, timeout: float = 60.0) -> list[tuple[str, bytes]]:
        """Read ``count`` messages from the start of ``topic`` as ``(key, payload)``, within ``timeout``."""
        import pulsar

        client = pulsar.Client(self.service_url, operation_timeout_seconds=30, logger=_quiet())
        received: list[tuple[str, bytes]] = []
        try:
            reader = client.create_reader(topic, pulsar.MessageId.earliest)
            deadline = time.monotonic() + timeout
            while len(received) < count:
                left_ms = int((deadline - time.monotonic()) * 1000)
                if left_ms <= 0:
                    raise AssertionError(f"{topic}: {len(received)} of {count} messages after {timeout}s")
                try:
                    msg = reader.read_next(timeout_millis=min(left_ms, 1000))
                except pulsar.Timeout:
                    continue
                received.append((msg.partition_key(), msg.data()))
        finally:
            client.close()
        return received


@pytest.fixture(scope="session", autouse=True)
def generated_key_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Generated secret keys of this session's deploys (``streamloop deploy`` subprocesses too)."""
    with pytest.MonkeyPatch.context() as patch:
        directory = tmp_path_factory.mktemp("keys")
        patch.setenv("STREAMLOOP_KEY_DIR", str(directory))
        yield directory


def _yaml_name(config_yaml: Path) -> str:
    """The ``name:`` line of a function config file."""
    for line in config_yaml.read_text().splitlines():
        if line.startswith("name:"):
            return line.split(":", 1)[1].strip().strip("'\"")
    raise ValueError(f"{config_yaml}: no name")


def topic(name: str) -> str:
    """The full name of a non-partitioned persistent topic in public/default."""
    return f"persistent://{TENANT}/{NAMESPACE}/{name}"


def make_zip(
    out: Path, modules: Sequence[Path] = (), packages: Sequence[Path] = (), wheels: Sequence[Path] = ()
) -> Path:
    """A Pulsar Python package: ``<stem>/src/<modules and packages>``, ``<stem>/deps/<wheels>``."""
    top = out.stem
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for module in modules:
            zf.write(module, f"{top}/src/{module.name}")
        for package in packages:
            for path in sorted(package.rglob("*.py")):
                zf.write(path, f"{top}/src/{path.relative_to(package.parent).as_posix()}")
        for wheel in wheels:
            zf.write(wheel, f"{top}/deps/{wheel.name}", compress_type=zipfile.ZIP_STORED)
    return out


def wheels_from(dist_zip: Path, into: Path) -> list[Path]:
    """Extract the ``deps/*.whl`` of a built package (``make package``) into ``into``."""
    into.mkdir(parents=True, exist_ok=True)
    wheels = []
    with zipfile.ZipFile(dist_zip) as zf:
        for info in zf.infolist():
            if "/deps/" in info.filename and info.filename.endswith(".whl"):
                target = into / Path(info.filename).name
                with zf.open(info) as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
                wheels.append(target)
    return wheels


def _quiet() -> Any:
    """A pulsar-client logger that prints warnings and errors only."""
    import pulsar

    return pulsar.ConsoleLogger(pulsar.LoggerLevel.Warn)


def skip_unless_up(reason: str | None, how_to_start: str) -> None:
    """Skip the test when ``reason`` says there is no cluster (fail with ``STREAMLOOP_REQUIRE_PULSAR=1``)."""
    if reason:
        message = f"{reason}; {how_to_start}"
        if os.environ.get("STREAMLOOP_REQUIRE_PULSAR") == "1":
            pytest.fail(f"STREAMLOOP_REQUIRE_PULSAR=1 but {message}", pytrace=False)
        pytest.skip(message)


def running_cluster() -> Pulsar:
    """The cluster to test against; skips when there is none (fails with ``STREAMLOOP_REQUIRE_PULSAR=1``)."""
    skip_unless_up(unavailable_reason(), HOW_TO_START)
    return Pulsar()


FUNCTIONS = ("features", "scorer", "joiner", "learner")
TOPICS = ("events", "labels", "features", "predictions", "examples", "models", "metrics", "dead-letters")


def delete_topics(p: Pulsar) -> None:
    """Remove the loop's topics (and their subscriptions) so each phase starts from nothing."""
    p.rest.delete_topics("public/default", list(TOPICS), timeout=30)


def code_only_zip() -> Path:
    """Build the code-only zip ``make deploy`` uploads (the worker's python3 has the dependencies)."""
    subprocess.run([sys.executable, "packaging/build_zip.py", "--no-deps"], cwd=REPO, check=True, timeout=300)
    return REPO / "dist" / "streamloop-nodeps.zip"


def offload_everything(admin: Admin, topic: str, timeout: float = 120.0) -> list[int]:
    """Close ``topic``'s current ledger (an unload) and offload every closed ledger to the tier, as
    ``pulsar-admin topics offload -s 0`` does; returns the offloaded ledger ids (``stats-internal``)."""
    admin.unload(topic)
    rolled = lambda: len(admin.internal_stats(topic).get("ledgers") or []) > 1  # noqa: E731
    wait_for(rolled, 60, f"{topic} to roll its ledger")
    admin.offload(topic)
    status = wait_for(
        lambda: (s := admin.offload_status(topic)).get("status") not in ("RUNNING", None) and s,
        timeout,
        f"the offload of {topic}",
    )
    assert status["status"] == "SUCCESS", f"{topic}: offload {status}"
    ledgers = admin.internal_stats(topic)["ledgers"]
    closed = [ledger for ledger in ledgers[:-1] if ledger.get("entries")]
    assert closed and all(ledger["offloaded"] for ledger in closed), f"{topic}: not all offloaded: {ledgers}"
    return [ledger["ledgerId"] for ledger in closed]


def pulsar_tool(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """``bin/pulsar <args>`` (tokens, zookeeper-shell, ...) in a small serial-GC JVM (any exit code)."""
    env = {**os.environ, "PULSAR_GC": "-XX:+UseSerialGC", "PULSAR_MEM": "-Xmx256m"}
    env["PULSAR_EXTRA_OPTS"] = "-XX:TieredStopAtLevel=1"
    command = [str(PULSAR_HOME / "bin" / "pulsar"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)


def bookkeeper_has_ledger(ledger_id: int, zookeeper: str = "127.0.0.1:2181") -> bool:
    """Whether BookKeeper still has ``ledger_id``: its znode, read with ``pulsar zookeeper-shell``."""
    digits = f"{ledger_id:010d}"
    znode = f"/ledgers/{digits[:2]}/{digits[2:6]}/L{digits[6:]}"
    done = pulsar_tool("zookeeper-shell", "-server", zookeeper, "stat", znode)
    output = done.stdout + done.stderr
    if "Node does not exist" in output:
        return False
    if "numChildren" in output:
        return True
    raise AssertionError(f"zookeeper-shell stat {znode}: {output[-500:]}")
