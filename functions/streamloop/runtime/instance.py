"""One function instance: its consumer, its Context and the function object, one message at a time.

Mirrors python_instance.py: the input is deserialized with the topic's SerDe, ``process`` is called with
the Context, an exception negatively acknowledges the input, and a non-``None`` return is sent to
``output`` (with ``__pfn_input_topic__``/``__pfn_input_msg_id__``, no key) and, under MANUAL, not acked.
On the embedded transport the instance hands its function a :class:`~streamloop.runtime.seam.Driven` seam
(its background jobs run by :meth:`FunctionInstance.run_background`); on a broker, none: Pulsar's threads.
"""

from __future__ import annotations

import logging
from typing import Any

import pulsar

from streamloop.runtime.context import FunctionContext, UserMetrics, clear_text_secret, load_serde
from streamloop.runtime.definition import DEFAULT_SERDE, FunctionDefinition
from streamloop.runtime.seam import Driven
from streamloop.runtime.state import StateStore
from streamloop.worker.config import base_topic
from streamloop.worker.config import topic as qualify

log = logging.getLogger("streamloop.runtime")
_OK = pulsar.Result.Ok


class FunctionInstance:
    """Instance ``instance_id`` of a function, subscribed to all its inputs through one consumer."""

    def __init__(
        self,
        definition: FunctionDefinition,
        instance_id: int,
        client: Any,
        state: StateStore,
        metrics: UserMetrics,
        secrets_provider: Any = clear_text_secret,
        embedded: bool = True,
    ) -> None:
        spec = definition.spec
        self.definition = definition
        self.instance_id = instance_id
        self.consumer = client.subscribe(
            [qualify(t) for t in spec.inputs],
            definition.subscription,
            consumer_type=definition.consumer_type,
            initial_position=definition.initial_position,
            consumer_name=f"{spec.fqfn}:{instance_id}",
            properties={"application": "pulsar-function", "id": spec.fqfn, "instance_id": str(instance_id)},
            **definition.consumer_options,
        )
        self.serdes = {t: load_serde(name) for t, name in definition.input_serdes.items()}
        self.seam = Driven() if embedded else None
        self.context = FunctionContext(
            spec,
            str(instance_id),
            client,
            {t: self.consumer for t in spec.inputs},
            state=state,
            metrics=metrics,
            secrets_provider=secrets_provider,
            seam=self.seam,
        )
        self.function = definition.function_class()
        self._output: Any = None

    def process_next(self, timeout_millis: int | None) -> bool:
        """Receive and process one message; ``False`` if none came within ``timeout_millis``."""
        try:
            message = self.consumer.receive(timeout_millis)
        except pulsar.Timeout:
            return False
        self.process(message)
        return True

    def process_waiting(self) -> bool:
        """Process one message if one is already waiting (the in-memory consumer's ``receive_nowait``)."""
        message = self.consumer.receive_nowait()
        if message is None:
            return False
        self.process(message)
        return True

    def run_background(self) -> int:
        """Run the function's background jobs until they are idle (embedded); returns the steps done."""
        return self.seam.run() if self.seam is not None else 0

    def process(self, message: Any) -> None:
        context = self.context
        topic = message.topic_name()
        try:
            serde = self.serdes.get(topic) or self.serdes[base_topic(topic)]  # a partition's: its topic's
            value = serde.deserialize(message.data())
            context.set_current_message_context(message, topic)
            result = self.function.process(value, context)
        except Exception:
            log.exception(
                "%s/%s: exception while executing user method", self.definition.name, self.instance_id
            )
            self.consumer.negative_acknowledge(message)
            return
        if result is not None and context.spec.output:
            self._send_result(result, message)

    def _send_result(self, result: Any, message: Any) -> None:
        spec = self.context.spec
        if self._output is None:
            self._output = (
                self.context.client.create_producer(spec.output),
                load_serde(spec.output_serde or DEFAULT_SERDE),
            )
        producer, serde = self._output
        properties = {
            "__pfn_input_topic__": message.topic_name(),
            "__pfn_input_msg_id__": str(message.message_id()),
        }
        producer.send_async(bytes(serde.serialize(result)), self._result_sent, properties=properties)

    def _result_sent(self, result: Any, message_id: Any) -> None:
        if result is not _OK and result != _OK:  # `is` first: comparing enums costs µs
            log.error(
                "%s: failed to publish the result to %s: %s",
                self.definition.name,
                self.context.spec.output,
                result,
            )

    def crash(self) -> None:
        """Disconnect without acking anything: Pulsar redelivers every unacked input."""
        self.consumer.close()
