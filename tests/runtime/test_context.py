"""FunctionContext follows Pulsar 4.0's ContextImpl."""

from __future__ import annotations

import pulsar
import pytest

from streamloop.runtime.context import FunctionContext, FunctionSpec, UserMetrics
from streamloop.runtime.memory import MemoryClient
from streamloop.runtime.state import DirectoryStateStore, MemoryStateStore

IN = "persistent://public/default/in"


class CountingClient(MemoryClient):
    def __init__(self) -> None:
        super().__init__()
        self.producers: list[str] = []

    def create_producer(self, topic: str, **options):
        self.producers.append(topic)
        return super().create_producer(topic, **options)


def make_context(client=None, **spec) -> tuple[FunctionContext, MemoryClient]:
    client = client or MemoryClient()
    consumer = client.subscribe(IN, "public/default/f", consumer_type=pulsar.ConsumerType.Shared)
    context = FunctionContext(FunctionSpec(name="f", inputs=(IN,), **spec), "0", client, {IN: consumer})
    return context, client


def receive_one(context: FunctionContext, client: MemoryClient, **send) -> None:
    client.create_producer(IN).send(b"input", **send)
    message = context.consumers[IN].receive(timeout_millis=0)
    context.set_current_message_context(message, message.topic_name())


def test_current_message_accessors():
    context, client = make_context()
    receive_one(context, client, partition_key="k", properties={"a": "1"}, event_timestamp=99)
    assert context.get_message_key() == context.get_partition_key() == "k"
    assert context.get_message_properties() == {"a": "1"}
    assert context.get_message_eventtime() == 99
    assert context.get_current_message_topic_name() == IN
    assert str(context.get_message_id()) == "(0,0,-1,-1)"


def test_function_accessors_mirror_pulsar_types():
    context, _ = make_context(user_config={"n": 1}, secrets={"key": "s3cret"}, output="out")
    assert context.get_instance_id() == "0"
    assert (context.get_function_tenant(), context.get_function_namespace(), context.get_function_name()) == (
        "public",
        "default",
        "f",
    )
    assert context.get_user_config_value("n") == 1 and context.get_user_config_value("m") is None
    assert context.get_secret("key") == "s3cret" and context.get_secret("other") is None
    assert context.get_input_topics() == [IN] and context.get_output_topic() == "out"
    assert isinstance(context.get_logger().name, str)


def test_empty_user_config_is_an_empty_list_like_pulsar():
    context, _ = make_context()
    assert context.get_user_config_map() == []
    assert context.get_user_config_value("anything") is None


def test_publish_keeps_key_and_properties_and_caches_one_producer_per_topic():
    client = CountingClient()
    context, _ = make_context(client)
    receive_one(context, client)
    context.publish("out", b"one", message_conf={"partition_key": "k1", "properties": {"p": "1"}})
    context.publish("out", "two", properties={"old": "style"}, message_conf={"partition_key": "k2"})
    context.publish("other", 3)
    out = client.messages("out")
    assert [(m.data(), m.partition_key(), m.properties()) for m in out] == [
        (b"one", "k1", {"p": "1"}),
        (b"two", "k2", {"old": "style"}),
    ]
    assert client.messages("other")[0].data() == b"3"  # IdentitySerDe: numbers and str as UTF-8 text
    assert client.producers.count("out") == 1
    with pytest.raises(TypeError):
        context.publish("out", {"a": 1})  # IdentitySerDe cannot serialize a dict, as in Pulsar


def test_publish_callback_runs_only_when_the_client_confirms():
    context, client = make_context()
    receive_one(context, client)
    results = []
    context.publish("out", b"x", callback=lambda result, msg_id: results.append(result))
    assert results == []
    client.run_callbacks()
    assert results == [pulsar.Result.Ok]


def test_ack_finds_the_consumer_by_topic():
    context, client = make_context()
    receive_one(context, client)
    context.ack(context.get_message_id(), IN + "-partition-3")
    assert client.unacked(IN, "public/default/f") == []
    with pytest.raises(ValueError, match="Invalid topicname"):
        context.ack(context.get_message_id(), "persistent://public/default/unknown")


@pytest.mark.parametrize("store", [MemoryStateStore, DirectoryStateStore])
def test_state_is_str_in_bytes_out(store, tmp_path):
    client = MemoryClient()
    state = store() if store is MemoryStateStore else store(tmp_path / "state")
    context = FunctionContext(FunctionSpec(name="f"), "0", client, {}, state=state)
    context.put_state("model", "é")
    assert context.get_state("model") == "é".encode()
    assert context.get_state("missing") is None
    with pytest.raises(TypeError):
        context.put_state("model", b"bytes")
    context.incr_counter("n", 2)
    context.incr_counter("n", -5)
    assert context.get_counter("n") == -3
    context.del_counter("n")
    assert context.get_counter("n") is None


def test_directory_state_survives_a_new_store_and_odd_keys(tmp_path):
    DirectoryStateStore(tmp_path).put("../x/.", "v")
    assert DirectoryStateStore(tmp_path).get_value("../x/.") == b"v"
    assert [p.name for p in tmp_path.iterdir()] == ["k-..%2Fx%2F."]


def test_record_metric():
    metrics = UserMetrics()
    context = FunctionContext(FunctionSpec(name="f"), "0", MemoryClient(), {}, metrics=metrics)
    context.record_metric("latency", 1.5)
    context.record_metric("latency", 2.5)
    assert (metrics.count["latency"], metrics.sum["latency"], metrics.values["latency"]) == (
        2,
        4.0,
        [1.5, 2.5],
    )
