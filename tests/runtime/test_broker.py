"""Broker mode: the same runner on a real ``pulsar.Client`` (skipped when no standalone is listening)."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid

import orjson
import pulsar
import pytest
import yaml

from streamloop.runtime.runner import Runner

SERVICE_URL = "pulsar://127.0.0.1:6650"


def broker_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6650), timeout=0.5).close()
    except OSError:
        return False
    return True


# With STREAMLOOP_REQUIRE_PULSAR=1 (CI) a missing broker makes the test fail instead of skip.
REQUIRED = os.environ.get("STREAMLOOP_REQUIRE_PULSAR") == "1"
pytestmark = [
    pytest.mark.pulsar,
    pytest.mark.skipif(
        not REQUIRED and not broker_up(), reason="no Pulsar at 127.0.0.1:6650: run `make pulsar-up`"
    ),
]


def test_runner_threads_on_a_real_broker_keep_keys_and_ack(tmp_path, relay):
    run = uuid.uuid4().hex[:8]
    source, sink = f"persistent://public/default/rt-in-{run}", f"persistent://public/default/rt-out-{run}"
    path = tmp_path / "relay.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": f"relay-{run}",
                "className": "streamloop.test_relay.Relay",
                "inputs": [source],
                "inputSpecs": {source: {"serdeClassName": "streamloop.worker.codec.RawBytes"}},
                "processingGuarantees": "MANUAL",
                "userConfig": {"out": sink},
            }
        )
    )
    client = pulsar.Client(SERVICE_URL)
    try:
        reader = client.subscribe(sink, f"check-{run}", initial_position=pulsar.InitialPosition.Earliest)
        runner = Runner.from_files([path], client=client)
        stop = threading.Event()
        thread = threading.Thread(target=runner.run, args=(stop,))
        thread.start()
        while not runner.instances:
            time.sleep(0.01)
        producer = client.create_producer(source)
        for i in range(5):
            producer.send(orjson.dumps({"id": str(i)}), partition_key=f"k{i}")
        received = []
        for _ in range(5):
            msg = reader.receive(timeout_millis=20000)
            received.append((orjson.loads(msg.data())["id"], msg.partition_key()))
            reader.acknowledge(msg)
        stop.set()
        thread.join(timeout=20)
        assert sorted(received) == [(str(i), f"k{i}") for i in range(5)]
        assert not thread.is_alive()
    finally:
        client.close()
