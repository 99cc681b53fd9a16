"""The in-memory transport behaves like the parts of Pulsar the functions rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pulsar
import pytest

from streamloop.runtime.memory import MemoryClient

EARLIEST = pulsar.InitialPosition.Earliest


def drain(consumer) -> list:
    out = []
    while True:
        try:
            out.append(consumer.receive(timeout_millis=0))
        except pulsar.Timeout:
            return out


def send_all(client: MemoryClient, topic: str, items: list[tuple[str, bytes]]) -> None:
    producer = client.create_producer(topic)
    for key, data in items:
        producer.send(data, partition_key=key)


def test_key_shared_sends_each_key_to_one_consumer_and_spreads_keys():
    client = MemoryClient()
    consumers = [client.subscribe("t", "s", consumer_type=pulsar.ConsumerType.KeyShared) for _ in range(3)]
    send_all(client, "t", [(f"key-{i % 50}", str(i).encode()) for i in range(500)])

    owners: dict[str, set[int]] = {}
    for index, consumer in enumerate(consumers):
        for msg in drain(consumer):
            owners.setdefault(msg.partition_key(), set()).add(index)
    assert all(len(who) == 1 for who in owners.values())
    assert len(owners) == 50
    assert {next(iter(who)) for who in owners.values()} == {0, 1, 2}


OWNERS_SCRIPT = """
import json, pulsar
from streamloop.runtime.memory import MemoryClient
client = MemoryClient()
consumers = [client.subscribe("t", "s", consumer_type=pulsar.ConsumerType.KeyShared, consumer_name=f"c{i}")
             for i in range(3)]
producer = client.create_producer("t")
for i in range(60):
    producer.send(b"x", partition_key=f"k{i}")
owners = {}
for consumer in consumers:
    while (message := consumer.receive_nowait()) is not None:
        owners[message.partition_key()] = consumer.name
print(json.dumps(owners, sort_keys=True))
"""


def test_key_shared_routing_is_the_same_in_every_process():
    """Which consumer owns which key must not depend on Python's per-process string hash seed."""

    def owners(seed: str) -> dict[str, str]:
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run(
            [sys.executable, "-c", OWNERS_SCRIPT],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return json.loads(run.stdout)

    first = owners("1")
    assert len(first) == 60 and len(set(first.values())) == 3  # every key owned, spread over all three
    assert owners("2") == first and owners("12345") == first


def test_keyless_messages_go_to_one_key_shared_consumer():
    client = MemoryClient()
    consumers = [client.subscribe("t", "s", consumer_type=pulsar.ConsumerType.KeyShared) for _ in range(3)]
    send_all(client, "t", [("", b"x")] * 10)
    assert sorted(len(drain(c)) for c in consumers) == [0, 0, 10]


def test_shared_round_robin_and_failover_single_active():
    client = MemoryClient()
    shared = [client.subscribe("t", "shared", consumer_type=pulsar.ConsumerType.Shared) for _ in range(2)]
    failover = [client.subscribe("t", "fo", consumer_type=pulsar.ConsumerType.Failover) for _ in range(2)]
    send_all(client, "t", [("k", b"%d" % i) for i in range(10)])

    assert [len(drain(c)) for c in shared] == [5, 5]
    active = drain(failover[0])
    assert [m.data() for m in active] == [b"%d" % i for i in range(10)]
    assert drain(failover[1]) == []

    failover[0].close()  # nothing acked: the standby takes over, in order
    assert [m.data() for m in drain(failover[1])] == [b"%d" % i for i in range(10)]


def test_exclusive_subscription_refuses_a_second_consumer():
    client = MemoryClient()
    client.subscribe("t", "s")
    with pytest.raises(pulsar.ConsumerBusy):
        client.subscribe("t", "s")


def test_close_redelivers_only_unacked_messages_in_original_order():
    client = MemoryClient()
    consumer = client.subscribe("t", "s", consumer_type=pulsar.ConsumerType.Shared)
    send_all(client, "t", [("k", b"%d" % i) for i in range(6)])
    received = drain(consumer)
    for msg in (received[0], received[2], received[5]):
        consumer.acknowledge(msg)
    consumer.close()
    send_all(client, "t", [("k", b"6")])  # arrives while nobody is connected: kept in the backlog

    again = client.subscribe("t", "s", consumer_type=pulsar.ConsumerType.Shared)
    msgs = drain(again)
    assert [m.data() for m in msgs] == [b"1", b"3", b"4", b"6"]
    assert [m.redelivery_count() for m in msgs] == [1, 1, 1, 0]
    assert [m.message_id() for m in msgs[:3]] == [received[i].message_id() for i in (1, 3, 4)]


def test_messages_queued_but_not_received_are_redelivered_to_the_remaining_consumer():
    client = MemoryClient()
    first, second = (client.subscribe("t", "s", consumer_type=pulsar.ConsumerType.Shared) for _ in range(2))
    send_all(client, "t", [("k", b"%d" % i) for i in range(4)])
    first.close()
    assert [m.data() for m in drain(second)] == [b"1", b"3", b"0", b"2"]


def test_initial_position_earliest_and_latest():
    client = MemoryClient()
    send_all(client, "t", [("k", b"old")])
    latest = client.subscribe("t", "late")
    earliest = client.subscribe("t", "early", initial_position=EARLIEST)
    send_all(client, "t", [("k", b"new")])
    assert [m.data() for m in drain(latest)] == [b"new"]
    assert [m.data() for m in drain(earliest)] == [b"old", b"new"]


def test_send_async_confirms_only_when_callbacks_run():
    client = MemoryClient()
    consumer = client.subscribe("t", "s")
    results = []
    client.create_producer("t").send_async(b"x", lambda result, msg_id: results.append((result, msg_id)))
    assert results == []
    assert consumer.receive(timeout_millis=0).data() == b"x"  # stored at once, confirmed later
    assert client.run_callbacks() == 1
    assert results[0][0] == pulsar.Result.Ok
    assert str(results[0][1]) == "(0,0,-1,-1)"


def test_injected_send_failures():
    client = MemoryClient()
    producer = client.create_producer("t")
    client.fail_sends("t", 2)
    results = []
    producer.send_async(b"a", lambda result, msg_id: results.append(result))
    with pytest.raises(pulsar.Timeout):
        producer.send(b"b")
    producer.send_async(b"c", lambda result, msg_id: results.append(result))
    client.run_callbacks()
    assert results == [pulsar.Result.Timeout, pulsar.Result.Ok]
    assert [m.data() for m in client.messages("t")] == [b"c"]


def test_message_accessors():
    client = MemoryClient()
    consumer = client.subscribe(["a", "persistent://public/default/b"], "s")
    producer = client.create_producer("b")
    producer.send(b"x", properties={"p": "1"}, partition_key="k", event_timestamp=1234)
    msg = consumer.receive(timeout_millis=0)
    assert msg.topic_name() == "persistent://public/default/b"
    assert (msg.data(), msg.value(), msg.partition_key(), msg.properties()) == (b"x", b"x", "k", {"p": "1"})
    assert msg.event_timestamp() == 1234 and msg.publish_timestamp() > 0
    assert msg.redelivery_count() == 0
    with pytest.raises(TypeError):
        producer.send("not bytes")


def test_negative_ack_redelivers_after_the_delay():
    client = MemoryClient()
    consumer = client.subscribe("t", "s")
    send_all(client, "t", [("k", b"x")])
    consumer.negative_acknowledge(consumer.receive(timeout_millis=0))
    assert drain(consumer) == []
    client.redeliver_nacked()
    assert [m.redelivery_count() for m in drain(consumer)] == [1]


def test_a_message_redelivered_again_and_again_is_the_same_message_counted_each_time():
    client = MemoryClient()
    consumer = client.subscribe("t", "s", initial_position=EARLIEST)
    producer = client.create_producer("t")
    producer.send(b"x", properties={"p": "1"}, partition_key="k", event_timestamp=7)
    first = consumer.receive(timeout_millis=0)
    consumer.close()  # a crash: redelivered once
    consumer = client.subscribe("t", "s")
    consumer.negative_acknowledge(consumer.receive(timeout_millis=0))
    assert client.unacked("t", "s") == [first.message_id()]  # nacked: still unacked
    client.redeliver_nacked()  # twice
    consumer.close()  # received by nobody yet: handed back as delivered, three times now
    (again,) = drain(client.subscribe("t", "s"))
    assert again.redelivery_count() == 3
    assert (again.data(), again.properties(), again.partition_key(), again.event_timestamp()) == (
        b"x",
        {"p": "1"},
        "k",
        7,
    )
    assert (again.message_id(), again.publish_timestamp()) == (first.message_id(), first.publish_timestamp())


def test_unsubscribe_deletes_the_backlog():
    client = MemoryClient()
    consumer = client.subscribe("t", "s")
    send_all(client, "t", [("k", b"x")])
    consumer.unsubscribe()
    assert drain(client.subscribe("t", "s")) == []


def test_compacted_reader_sees_latest_value_per_key():
    client = MemoryClient()
    client.set_compacted("models")
    send_all(client, "models", [("a", b"a1"), ("b", b"b1"), ("a", b"a2")])
    reader = client.create_reader("models", pulsar.MessageId.earliest, is_read_compacted=True)
    assert reader.has_message_available()
    assert [reader.read_next(0).data() for _ in range(2)] == [b"b1", b"a2"]
    assert not reader.has_message_available()
    with pytest.raises(pulsar.Timeout):
        reader.read_next(timeout_millis=0)

    full = client.create_reader("models", pulsar.MessageId.earliest)
    assert [full.read_next(0).data() for _ in range(3)] == [b"a1", b"b1", b"a2"]
    latest = client.create_reader("models", pulsar.MessageId.latest)
    assert not latest.has_message_available()


def test_a_partitioned_topic_routes_by_key_and_names_each_partition():
    client = MemoryClient()
    client.create_partitioned_topic("t", 3)
    consumer = client.subscribe("t", "s", consumer_type=pulsar.ConsumerType.Shared)
    send_all(client, "t", [(f"k{i % 10}", str(i).encode()) for i in range(60)])
    received = drain(consumer)
    partition_of = {m.partition_key(): m.topic_name() for m in received}
    assert all(partition_of[m.partition_key()] == m.topic_name() for m in received)  # a key stays put
    assert set(partition_of.values()) == {f"persistent://public/default/t-partition-{i}" for i in range(3)}
    assert [m.data() for m in client.messages("t")] == [str(i).encode() for i in range(60)]
    for m in received[:50]:
        consumer.acknowledge(m)
    assert client.unacked("t", "s") == [m.message_id() for m in received[50:]]
