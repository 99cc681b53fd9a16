"""The harness and the instances it runs: MANUAL acks, crashes and redelivery, parallelism."""

from __future__ import annotations

from pathlib import Path

import pulsar

from streamloop.runtime.context import UserMetrics
from streamloop.runtime.definition import define
from streamloop.runtime.instance import FunctionInstance
from streamloop.runtime.memory import MemoryClient
from streamloop.runtime.state import MemoryStateStore
from streamloop.runtime.testing import FunctionHarness
from streamloop.worker.config import FunctionFile

IN = "persistent://public/default/input"


def test_input_is_acked_only_after_the_publish_callback(relay):
    file = FunctionFile(
        Path("<relay>"),
        {
            "className": "x.Relay",
            "inputs": [IN],
            "inputSpecs": {IN: {"serdeClassName": "streamloop.worker.codec.RawBytes"}},
            "processingGuarantees": "MANUAL",
        },
    )
    client = MemoryClient()
    instance = FunctionInstance(
        define(file, function_class=relay), 0, client, MemoryStateStore(), UserMetrics()
    )
    msg_id = client.create_producer(IN).send(b'{"id": "1"}')

    assert instance.process_next(0)
    assert [m.data() for m in client.messages("out")] == [b'{"id":"1"}']  # published, not yet confirmed
    assert client.unacked(IN, instance.definition.subscription) == [msg_id]
    client.run_callbacks()
    assert client.unacked(IN, instance.definition.subscription) == []


def test_failed_publish_leaves_the_input_unacked(relay):
    h = FunctionHarness(relay)
    h.fail_sends("out", 1)
    lost = h.send({"id": "1"})
    kept = h.send({"id": "2"})
    assert h.unacked == [lost] and h.acked == [kept]
    assert any("publish to out failed" in line for line in h.logs)


def test_restart_redelivers_only_unacked_inputs_in_order(relay):
    h = FunctionHarness(relay)
    ids = [h.send({"id": str(i), "hold": i in (1, 3, 4)}) for i in range(6)]
    assert h.unacked == [ids[1], ids[3], ids[4]]

    h.restart()
    assert h.function.seen == [("1", 1), ("3", 1), ("4", 1)]
    assert h.unacked == [ids[1], ids[3], ids[4]]  # held again by the new instance
    assert [r["id"] for r in h.records("out")] == ["0", "1", "2", "3", "4", "5", "1", "3", "4"]
    assert h.state["processed"] == (9).to_bytes(8, "big")  # the same state store across the crash


def test_harness_outputs_keys_metrics_and_dead_letters(relay):
    h = FunctionHarness(relay, user_config={"factor": 2.0}, inputs=["a", "b"])
    h.send({"id": "1"}, key="k1", properties={"p": "v"}, event_time=5)
    h.send({"id": "2"}, topic="b", key="k2")
    h.send(b"\xff")
    assert [(m.key, r["id"]) for m, r in zip(h.messages("out"), h.records("out"), strict=True)] == [
        ("k1", "1"),
        ("k2", "2"),
    ]
    assert h.metrics == {"factor": [2.0, 2.0], "dead_letters": [1]}
    assert h.dead_letters[0].payload == b"\xff"
    assert h.dead_letters[0].properties["input_topic"] == "persistent://public/default/a"
    assert len(h.acked) == 3 and h.unacked == []


def test_parallelism_two_shares_messages_between_instances(relay):
    h = FunctionHarness(relay, parallelism=2)
    for i in range(10):
        h.send({"id": str(i)}, key=f"k{i}")
    first, second = h.functions
    assert len(first.seen) == len(second.seen) == 5
    assert len(h.records("out")) == 10


def test_parallelism_two_with_key_ordering_keeps_each_key_on_one_instance(relay):
    h = FunctionHarness(relay, parallelism=2, retainKeyOrdering=True)
    assert h.definition.consumer_type == pulsar.ConsumerType.KeyShared
    for i in range(40):
        h.send({"id": f"k{i % 8}-{i}"}, key=f"k{i % 8}")
    keys = [{seen_id.split("-")[0] for seen_id, _ in f.seen} for f in h.functions]
    assert keys[0] and keys[1] and not keys[0] & keys[1]


def test_process_exception_nacks_the_input(relay):
    class Broken(relay):
        def process(self, input, context):
            raise RuntimeError("boom")

    h = FunctionHarness(Broken)
    msg_id = h.send({"id": "1"})
    assert h.unacked == [msg_id]
    assert any("exception while executing user method" in line for line in h.logs)
    h.client.redeliver_nacked()
    assert h.pump() == 1  # redelivered, and fails again
