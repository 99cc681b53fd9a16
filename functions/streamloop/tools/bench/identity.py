"""The embedded runtime's own per-message cost: an identity function on the in-memory transport.

Every input is republished unchanged with ``acks=(delivery,)``, so one message costs exactly what
streamloop adds around a function (receive, ``Delivery``, publish, confirmation, ack) and nothing of the
ML. The whole loop moves five messages per event (features, scorer, joiner twice, learner).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamloop.runtime.definition import define
from streamloop.runtime.runner import Runner
from streamloop.tools.bench.ceiling import timed
from streamloop.worker.config import FunctionFile, UserConfig, topic
from streamloop.worker.function import Delivery, StreamFunction

INPUT, OUTPUT = topic("bench-in"), topic("bench-out")


class IdentityFunction(StreamFunction[UserConfig]):
    """Republishes each input to the output topic, keeping its key."""

    role = "identity"

    def on_message(self, delivery: Delivery, context: Any) -> None:
        self.publish(context.get_output_topic(), delivery.payload, key=delivery.key, acks=(delivery,))


def run_identity(payloads: list[bytes]) -> tuple[float, float]:
    """Wall and CPU seconds to move ``payloads`` through the identity function (each sent, then pumped)."""
    config = {
        "name": "identity",
        "className": "streamloop.tools.bench.identity.IdentityFunction",
        "inputs": [INPUT],
        "inputSpecs": {INPUT: {"serdeClassName": "streamloop.worker.codec.RawBytes"}},
        "output": OUTPUT,
        "processingGuarantees": "MANUAL",
        "subscriptionPosition": "Earliest",
    }
    file = FunctionFile(Path("<identity>"), config)
    runner = Runner([define(file, function_class=IdentityFunction)])
    runner.start()
    producer = runner.client.create_producer(INPUT)

    def run() -> None:
        for payload in payloads:
            producer.send_async(payload, None, partition_key="k")
            runner.pump()

    seconds = timed(run)
    runner.stop()
    return seconds
