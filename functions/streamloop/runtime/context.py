"""``FunctionContext``: Pulsar's Python ``Context`` over any client, real (``pulsar.Client``) or in memory.

It follows Pulsar 4.0's ``ContextImpl``: ``get_instance_id`` is a string, ``get_user_config_map`` is
``[]`` when there is no user config, ``publish`` is asynchronous through one cached producer per topic
(its callback is the only confirmation), ``ack`` finds the consumer by the topic *as configured*, and
state is ``str`` in, ``bytes`` out. It also hands the function the runtime's seam
(:mod:`streamloop.worker.seam`), when it has one: without it a function runs as on a Pulsar worker.

>>> from streamloop.runtime.memory import MemoryClient
>>> client = MemoryClient()
>>> context = FunctionContext(FunctionSpec(name="demo", user_config={"n": 3}), "0", client, {})
>>> context.get_user_config_value("n"), context.get_instance_id()
(3, '0')
>>> context.publish("out", "hi", message_conf={"partition_key": "k"})
>>> [(m.data(), m.partition_key()) for m in client.messages("out")]
[(b'hi', 'k')]
>>> context.put_state("s", "v"); context.get_state("s")
b'v'
"""

from __future__ import annotations

import importlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pulsar
from pulsar.functions.context import Context

from streamloop.runtime.state import MemoryStateStore, StateStore
from streamloop.worker.config import base_topic
from streamloop.worker.seam import CONTEXT_ATTRIBUTE, Seam

log = logging.getLogger("streamloop.runtime")
_OK = pulsar.Result.Ok


@dataclass(frozen=True)
class FunctionSpec:
    """What a Context exposes from Pulsar's FunctionDetails."""

    name: str
    tenant: str = "public"
    namespace: str = "default"
    inputs: tuple[str, ...] = ()
    output: str = ""
    output_serde: str = ""
    user_config: Mapping[str, Any] = field(default_factory=dict)
    secrets: Mapping[str, Any] = field(default_factory=dict)
    parallelism: int = 1
    function_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def fqfn(self) -> str:
        return f"{self.tenant}/{self.namespace}/{self.name}"


def clear_text_secret(name: str, value: Any) -> Any:
    """Pulsar's default ``ClearTextSecretsProvider``: the secret is the value in the FunctionConfig."""
    return value


class UserMetrics:
    """What ``record_metric`` observed: count and sum per name (Pulsar's Summary), and every value.

    >>> m = UserMetrics(); m.observe("latency", 2.0); m.observe("latency", 4.0)
    >>> m.count["latency"], m.sum["latency"], m.values["latency"]
    (2, 6.0, [2.0, 4.0])
    """

    def __init__(self, keep_values: bool = True) -> None:
        self.count: dict[str, int] = defaultdict(int)
        self.sum: dict[str, float] = defaultdict(float)
        self.values: dict[str, list[float]] = defaultdict(list)
        self._keep = keep_values

    def observe(self, name: str, value: float) -> None:
        self.count[name] += 1
        self.sum[name] += value
        if self._keep:
            self.values[name].append(value)


def load_serde(name: str) -> Any:
    """Instantiate a SerDe named like Pulsar does: ``serde.X`` from pulsar-client, else a dotted path."""
    module, _, cls = ("pulsar.functions." + name if name.startswith("serde.") else name).rpartition(".")
    if not module.startswith(("pulsar.functions.serde", "streamloop.")):
        raise ValueError(f"SerDe {name}: only serde.* and streamloop.* classes are loaded")
    return getattr(importlib.import_module(module), cls)()


class FunctionContext(Context):
    """The Context of one function instance (``instance_id`` is ``"0"`` … ``"n-1"``)."""

    def __init__(
        self,
        spec: FunctionSpec,
        instance_id: str,
        client: Any,
        consumers: Mapping[str, Any],
        state: StateStore | None = None,
        metrics: UserMetrics | None = None,
        secrets_provider: Callable[[str, Any], Any] = clear_text_secret,
        logger: logging.Logger | None = None,
        seam: Seam | None = None,
    ) -> None:
        self.spec = spec
        self.instance_id = str(instance_id)
        self.client = client
        self.consumers = consumers
        self.state = state if state is not None else MemoryStateStore()
        self.metrics = metrics if metrics is not None else UserMetrics(keep_values=False)
        self.secrets_provider = secrets_provider
        self.log = logger or logging.getLogger(f"streamloop.worker.function.{spec.name}")
        self.user_config = dict(spec.user_config) or []  # Pulsar gives [] when userConfig is empty
        self.message: Any = None
        self._producers: dict[str, Any] = {}
        self._serdes: dict[str, Any] = {}
        setattr(self, CONTEXT_ATTRIBUTE, seam)

    def set_current_message_context(self, message: Any, topic: str) -> None:
        self.message = message

    # -- the current message -------------------------------------------------------------------------
    def get_message_id(self) -> Any:
        return self.message.message_id()

    def get_message_key(self) -> str:
        return self.message.partition_key()

    def get_partition_key(self) -> str:
        return self.message.partition_key()

    def get_message_eventtime(self) -> int:
        return self.message.event_timestamp()

    def get_message_properties(self) -> dict[str, str]:
        return self.message.properties()

    def get_current_message_topic_name(self) -> str:
        return self.message.topic_name()

    # -- the function --------------------------------------------------------------------------------
    def get_function_tenant(self) -> str:
        return self.spec.tenant

    def get_function_namespace(self) -> str:
        return self.spec.namespace

    def get_function_name(self) -> str:
        return self.spec.name

    def get_function_id(self) -> str:
        return self.spec.function_id

    def get_function_version(self) -> str:
        return self.spec.function_version

    def get_instance_id(self) -> str:
        return self.instance_id

    def get_num_instances(self) -> int:
        """The function's parallelism (Java's ``Context.getNumInstances``; not in Pulsar's Python Context)."""
        return self.spec.parallelism

    def get_logger(self) -> logging.Logger:
        return self.log

    def get_user_config_value(self, key: str) -> Any:
        return self.user_config.get(key) if self.user_config else None

    def get_user_config_map(self) -> Any:
        return self.user_config

    def get_secret(self, secret_name: str) -> Any:
        if secret_name not in self.spec.secrets:
            return None
        return self.secrets_provider(secret_name, self.spec.secrets[secret_name])

    def record_metric(self, metric_name: str, metric_value: float) -> None:
        self.metrics.observe(metric_name, metric_value)

    def get_input_topics(self) -> list[str]:
        return list(self.spec.inputs)

    def get_output_topic(self) -> str:
        return self.spec.output

    def get_output_serde_class_name(self) -> str:
        return self.spec.output_serde

    def get_pulsar_client(self) -> Any:
        return self.client

    # -- publishing and acking -----------------------------------------------------------------------
    def publish(
        self,
        topic_name: str,
        message: Any,
        serde_class_name: str = "serde.IdentitySerDe",
        properties: dict[str, str] | None = None,
        compression_type: Any = None,
        callback: Callable[[Any, Any], None] | None = None,
        message_conf: dict[str, Any] | None = None,
    ) -> None:
        """Serialize and ``send_async``; ``callback(result, msg_id)`` runs when the send is confirmed."""
        topic_name = str(topic_name)
        producer = self._producers.get(topic_name)
        if producer is None:
            producer = self._producers[topic_name] = self.client.create_producer(
                topic_name,
                block_if_queue_full=True,
                batching_enabled=True,
                batching_max_publish_delay_ms=10,
                compression_type=compression_type or pulsar.CompressionType.NONE,
                properties={
                    "application": "pulsar-function",
                    "id": self.spec.fqfn,
                    "instance_id": self.instance_id,
                },
            )
        serde = self._serdes.get(serde_class_name)
        if serde is None:
            serde = self._serdes[serde_class_name] = load_serde(serde_class_name)
        payload = bytes(serde.serialize(message))
        conf = dict(message_conf) if message_conf else {}
        if properties:  # deprecated argument, merged like Pulsar does
            conf["properties"] = properties
        source = self.message.message_id() if self.message is not None else None
        producer.send_async(payload, partial(self._confirmed, callback, topic_name, source), **conf)

    def _confirmed(self, callback: Any, topic_name: str, source: Any, result: Any, msg_id: Any) -> None:
        if result is not _OK and result != _OK:  # `is` first: comparing enums costs µs
            log.error(
                "Failed to publish to topic [%s] with error [%s] with src message id [%s]",
                topic_name,
                result,
                source,
            )
        if callback is not None:
            callback(result, msg_id)

    def ack(self, msgid: Any, topic: str) -> None:
        """Acknowledge on the consumer of ``topic`` (as configured, or its ``-partition-N``)."""
        consumer = self.consumers.get(topic) or self.consumers.get(base_topic(topic))
        if consumer is None:
            raise ValueError(f"Invalid topicname {topic}")
        consumer.acknowledge(msgid)

    # -- state ---------------------------------------------------------------------------------------
    def incr_counter(self, key: str, amount: int) -> None:
        self.state.incr(key, amount)

    def get_counter(self, key: str) -> int | None:
        return self.state.get_amount(key)

    def del_counter(self, key: str) -> None:
        self.state.delete_key(key)

    def put_state(self, key: str, value: str) -> None:
        self.state.put(key, value)

    def get_state(self, key: str) -> bytes | None:
        return self.state.get_value(key)
