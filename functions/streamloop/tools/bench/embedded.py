"""The embedded runner's whole loop: the demo's stream through ``Runner.from_directory`` on one thread.

Exactly what ``make demo`` does, timed from the first event sent to the last message processed: each event
(and each label, ``LABEL_DELAY`` events later) is sent, then the runner pumps every function until nothing
is left. Runner start-up (loading the YAMLs, subscribing) is not counted.
"""

from __future__ import annotations

from typing import Any

from streamloop.runtime.runner import Runner
from streamloop.tools.bench.ceiling import timed
from streamloop.tools.bench.pulsar_io import TopicMessages
from streamloop.tools.bench.workload import LABEL_DELAY, Workload
from streamloop.tools.replay import replay


def run_loop(workload: Workload) -> dict[str, Any]:
    """One pass of the workload through a fresh runner: wall and CPU seconds, and how much came out."""
    runner = Runner.from_directory(workload.config_dir)
    runner.start()

    def pump(kind: str, record: dict[str, Any]) -> None:
        runner.pump()

    def run() -> None:
        replay(runner.client, workload.events, workload.labels, label_delay=LABEL_DELAY, on_sent=pump)
        runner.pump()

    seconds, cpu_seconds = timed(run)
    client = runner.client
    outputs = {name: len(client.messages(name)) for name in ("predictions", "examples", "models")}
    runner.stop()
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, **outputs}


def topic_messages(workload: Workload) -> TopicMessages:
    """Every message of the loop's topics, as ``(key, payload, properties)``: the broker bench's inputs."""
    runner = Runner.from_directory(workload.config_dir)
    runner.start()
    replay(
        runner.client,
        workload.events,
        workload.labels,
        label_delay=LABEL_DELAY,
        on_sent=lambda k, r: runner.pump(),
    )
    runner.pump()
    names = ("events", "labels", "features", "predictions", "examples", "models")
    out = {
        name: [(m.partition_key(), m.data(), m.properties()) for m in runner.client.messages(name)]
        for name in names
    }
    runner.stop()
    return out
