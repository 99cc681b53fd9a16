"""Producing backlogs, a bare consume → produce loop, and instance RSS and CPU, for the broker bench."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pulsar

Produced = tuple[str, bytes, dict[str, str]]  # (key, payload, properties) of one message
TopicMessages = dict[str, list[Produced]]  # short topic name -> its messages, in order
_OK = pulsar.Result.Ok


def producer(client: Any, topic: str, batching: bool = True) -> Any:
    """A producer that keeps keys together in batches (Key_Shared consumers downstream need that)."""
    return client.create_producer(
        topic,
        batching_enabled=batching,
        batching_type=pulsar.BatchingType.KeyBased,
        batching_max_publish_delay_ms=5,
        block_if_queue_full=True,
        max_pending_messages=5000,
        send_timeout_millis=30_000,
    )


def send(out: Any, message: Produced, callback: Any = None) -> None:
    key, payload, properties = message
    out.send_async(payload, callback, partition_key=key or None, properties=properties or None)


def produce(client: Any, topic: str, messages: Iterable[Produced]) -> None:
    """Send every message to ``topic`` and wait until all are stored."""
    out = producer(client, topic)
    for message in messages:
        send(out, message)
    out.flush()
    out.close()


def consume_loop(client: Any, source: str, sink: str, count: int, timeout: float) -> float:
    """Seconds a bare client takes to move ``count`` messages from ``source`` to ``sink``.

    Receive, ``send_async`` keeping the key, ack in the send callback: what a function instance does,
    without the instance. Timed from the first message received to the last send confirmed.
    """
    consumer = client.subscribe(
        source,
        "bare",
        consumer_type=pulsar.ConsumerType.Shared,
        initial_position=pulsar.InitialPosition.Earliest,
    )
    out = producer(client, sink)
    done = threading.Event()
    confirmed = [0]

    def sent(message: Any) -> Any:
        def callback(result: Any, message_id: Any) -> None:
            if result == _OK:
                consumer.acknowledge(message)
            confirmed[0] += 1
            if confirmed[0] >= count:
                done.set()

        return callback

    deadline = time.monotonic() + timeout
    started = None
    received = 0
    while received < count and time.monotonic() < deadline:
        try:
            message = consumer.receive(timeout_millis=1000)
        except pulsar.Timeout:
            continue
        if started is None:
            started = time.monotonic()
        out.send_async(message.data(), sent(message), partition_key=message.partition_key() or None)
        received += 1
    out.flush()
    done.wait(max(deadline - time.monotonic(), 0))
    seconds = time.monotonic() - (started or time.monotonic())
    consumer.close()
    out.close()
    if confirmed[0] < count:
        raise TimeoutError(f"bare client: {confirmed[0]} of {count} messages in {timeout:.0f}s")
    return seconds


def _processes() -> Iterator[tuple[Path, str]]:
    """``(/proc/<pid>, command line)`` of each process on this machine that can be read."""
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                yield proc, (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue


def _is_instance(cmdline: str, namespace: str, name: str) -> bool:
    """Whether ``cmdline`` is a Python instance of function ``name`` in ``namespace``."""
    if "python_instance_main" not in cmdline:
        return False
    compact = cmdline.replace(" ", "").replace("\\", "")
    return f'"namespace":"{namespace}"' in compact and f'"name":"{name}"' in compact


def instance_rss_mb(namespace: str, name: str) -> list[float]:
    """Resident memory (MB) of each Python instance process of function ``name`` in ``namespace``."""
    out = []
    for proc, cmdline in _processes():
        if not _is_instance(cmdline, namespace, name):
            continue
        try:
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out.append(round(int(line.split()[1]) / 1024, 1))
        except OSError:
            continue
    return out


def _cpu_seconds(proc: Path) -> float:
    """User + system CPU seconds of one process so far (0 if it is gone)."""
    try:
        fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds every process on this machine has used so far (``/proc/stat``: all but idle and iowait).

    Its change over a run divided by the run's wall time is how many cores were busy: when a function at
    parallelism 1 already keeps the machine's cores busy (its own, the broker's), a second instance has
    none to run on.
    """
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def server_pids(directory: str | Path) -> dict[str, int]:
    """``{name: pid}`` of each ``<directory>/<name>/pid`` (packaging/cluster.sh's processes), by name."""
    out = {}
    for pid_file in sorted(Path(directory).glob("*/pid")):
        text = pid_file.read_text().strip()
        if text.isdigit():
            out[pid_file.parent.name] = int(text)
    return out


def cpu_seconds(
    namespace: str, names: Iterable[str], servers: Mapping[str, int] | None = None
) -> dict[str, float]:
    """CPU seconds used so far by the Pulsar processes, each function's instances and this process.

    The Pulsar processes: ``servers`` (``{name: pid}``, a cluster's), else the local standalone's JVM,
    found by its main class (a remote broker is simply not listed).
    """
    processes = list(_processes())
    out: dict[str, float] = {}
    if servers is not None:
        out.update({name: _cpu_seconds(Path(f"/proc/{pid}")) for name, pid in servers.items()})
    else:
        for proc, cmdline in processes:
            if "PulsarStandaloneStarter" in cmdline:
                out["broker"] = _cpu_seconds(proc)
    for name in names:
        out[name] = sum(_cpu_seconds(p) for p, cmdline in processes if _is_instance(cmdline, namespace, name))
    out["bench client"] = _cpu_seconds(Path("/proc/self"))
    return out
