"""The base of every streamloop function: Pulsar's ``process(input, context)`` with MANUAL acks.

Pulsar 4.0's Python runtime acks a ``None`` return before ``context.publish`` is confirmed, drops the key
on the return path and has no dead-letter topic; ``context.publish`` also batches with the default
(not key-based) batcher and a fixed 10 ms delay, which breaks Key_Shared routing downstream (a batch of
mixed keys goes to one consumer). So outputs go through producers this class creates on the instance's own
client (``context.get_pulsar_client()``), batching per key unless ``batch_by_key: false`` (for outputs
read on Shared, Failover or one instance's Key_Shared: fewer, larger broker entries) with a configurable
delay, and every function runs with ``processingGuarantees: MANUAL`` and follows one rule: **an input is acked
once everything it caused is confirmed**. A :class:`Delivery` counts what is still outstanding for its
input: the call to ``process`` itself, each publish that names it, and any hold a function takes (the
joiner holds a prediction until its label comes, the learner holds an example until a checkpoint
contains it). When the count reaches zero the input is acked. A bad message (:class:`BadMessage`: it can
never be processed) goes to the dead-letter topic with the reason, and the dead letter's confirmation acks
it. Any other failure (the state store, a producer, a bug) is not the message's fault: ``process`` raises,
Pulsar nacks the input and redelivers it, and a failed send leaves its inputs unacked; both are logged and
counted (``processing_failures``, ``publish_failures``).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterable
from typing import Any, ClassVar, Generic

import pulsar

from streamloop.worker.checkcases import CheckCase
from streamloop.worker.codec import BadMessage, encode
from streamloop.worker.config import Config, ConfigError, UserConfig, parse_user_config
from streamloop.worker.messages import dead_letter_properties
from streamloop.worker.seam import Seam, seam_of
from streamloop.worker.secretkeys import read_keys
from streamloop.worker.writebehind import WriteBehindState

log = logging.getLogger("streamloop")
_OK = pulsar.Result.Ok


class Delivery:
    """One input message and the count of things that must finish before it is acked."""

    __slots__ = ("_context", "_holds", "event_time", "key", "message_id", "payload", "topic")

    def __init__(self, context: Any, payload: bytes) -> None:
        self.payload = payload
        self.message_id = context.get_message_id()
        self.topic: str = context.get_current_message_topic_name()
        self.key: str = context.get_message_key() or ""
        self.event_time: int = context.get_message_eventtime() or 0
        self._context = context  # acks through context.ack: no bound method kept per (maybe long) hold
        self._holds = 1  # released when process() returns

    # Publish confirmations arrive on the client's IO thread while process() runs on its own thread.
    _lock = threading.Lock()

    def hold(self) -> None:
        """Keep this input unacked until a matching :meth:`release`."""
        with self._lock:
            self._holds += 1

    def release(self) -> None:
        """Drop one hold; the input is acked when none are left."""
        with self._lock:
            self._holds -= 1
            done = self._holds == 0
        if done:
            self._context.ack(self.message_id, self.topic)

    @property
    def acked(self) -> bool:
        return self._holds <= 0


class StreamFunction(Generic[Config]):
    """A Pulsar Function class: ``userConfig`` in, ``on_message`` is behaviour.

    Subclasses set ``Config`` (their pydantic settings model) and implement :meth:`on_message`;
    :meth:`setup` runs once, with the first message's context, after the config is validated.
    """

    Config: ClassVar[type[UserConfig]] = UserConfig
    role: ClassVar[str] = "function"
    state_failure_metric: ClassVar[str | None] = None
    """The user metric that counts failed writes of :attr:`function_state` (each is retried)."""
    seam: Seam
    """What runs the function's background work, handed over by the runtime (set with the config)."""
    function_state: WriteBehindState
    """The function's state, written behind (:meth:`hold_until_saved`, :meth:`save_state`)."""
    secrets: ClassVar[tuple[str, ...]] = ()
    """The names of the secret keys the function needs (``context.get_secret``), read at start."""
    keys: dict[str, bytes]
    """The key of each of :attr:`secrets`, checked (:func:`~streamloop.worker.secretkeys.read_keys`)."""

    def __init__(self) -> None:  # Pulsar calls the constructor without arguments
        self.config: Config | None = None
        self.context: Any = None
        self._producers: dict[str, Any] = {}

    # -- Pulsar's entry point ------------------------------------------------------------------------
    def process(self, input: Any, context: Any) -> None:
        if self.config is None:
            self._start(context)
        payload = input if isinstance(input, bytes) else _as_bytes(input)
        delivery = Delivery(context, payload)
        try:
            self._handle(delivery, context)
        except Exception as error:
            # Not the message's fault (state store, producer, or a bug): raised, so Pulsar nacks the input and
            # redelivers it; the hold of this call is never released, so nothing it published acks it.
            log.exception(
                "%s: message %s left unacked for redelivery: %s: %s",
                self.role,
                delivery.message_id,
                type(error).__name__,
                error,
            )
            self.record("processing_failures", 1)
            raise
        delivery.release()

    def _handle(self, delivery: Delivery, context: Any) -> None:
        """:meth:`on_message`; a bad message (:class:`BadMessage`) goes to the dead-letter topic."""
        limit = self.config.max_record_bytes  # type: ignore[union-attr]
        try:
            if len(delivery.payload) > limit:
                raise BadMessage(f"payload: {len(delivery.payload)} bytes, over max_record_bytes {limit}")
            self.on_message(delivery, context)
        except BadMessage as error:
            self.dead_letter(delivery, str(error))

    def _start(self, context: Any) -> None:
        name = context.get_function_name() or self.role
        user_config = context.get_user_config_map() or {}
        try:
            config = parse_user_config(self.Config, user_config, source=f"function {name}")
            self.keys = read_keys(context, self.secrets, source=f"function {name}")
        except ConfigError as error:
            # Raised, not dead-lettered: Pulsar nacks the message (nothing is lost) and shows this text
            # in `pulsar-admin functions status` until the config is fixed.
            log.error("invalid configuration:\n%s", error)
            raise
        self.context = context
        self.seam = seam_of(context)  # the one place that reads what the function runs on
        self.function_state = WriteBehindState(
            context, self.seam, name=f"{name} state", on_failure=self._state_write_failed
        )
        self.config = config  # type: ignore[assignment]
        try:
            self.setup(context)
        except Exception:
            self.config = None  # start again with the next message: never process without state
            raise

    # -- for subclasses ------------------------------------------------------------------------------
    @staticmethod
    def check_case() -> CheckCase:
        """The configuration and inputs the contract suite (:mod:`streamloop.runtime.checks`) runs with."""
        raise NotImplementedError("declare check_case(), returning a streamloop.worker.checkcases.CheckCase")

    def setup(self, context: Any) -> None:
        """Prepare state from the validated ``self.config`` (load models, restore checkpoints)."""

    def on_message(self, delivery: Delivery, context: Any) -> None:
        raise NotImplementedError

    def hold_until_saved(self, delivery: Delivery) -> None:
        """Keep ``delivery`` unacked until the state put so far is stored (by the next :meth:`save_state`)."""
        self.function_state.hold(delivery)

    def save_state(self) -> None:
        """Store what was put in :attr:`function_state` since the last save, then ack the inputs held for it.

        Returns at once: the seam's writer stores it (a thread on Pulsar, the runner between two messages
        when embedded) and retries a failed write, the inputs staying unacked until it succeeds.
        """
        self.function_state.commit()

    def _state_write_failed(self) -> None:
        if self.state_failure_metric is not None:
            self.record(self.state_failure_metric, 1)

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        key: str | None = None,
        properties: dict[str, str] | None = None,
        acks: Iterable[Delivery] = (),
    ) -> None:
        """Send ``payload`` keeping ``key``; each delivery in ``acks`` waits for the broker's confirmation."""
        waiting = acks if type(acks) is tuple else tuple(acks)
        for delivery in waiting:
            delivery.hold()

        def confirmed(result: Any, message_id: Any) -> None:
            if result is _OK or result == _OK:  # `is` first: comparing enums costs µs
                for delivery in waiting:
                    delivery.release()
            else:  # left unacked (no nack from a callback): Pulsar redelivers them when the instance restarts
                log.error(
                    "%s: publish to %s failed: %s; %d input(s) left unacked for redelivery",
                    self.role,
                    topic,
                    result,
                    len(waiting),
                )
                self.record("publish_failures", 1)

        self._producer(topic).send_async(payload, confirmed, partition_key=key, properties=properties)

    def _producer(self, topic: str) -> Any:
        producer = self._producers.get(topic)
        if producer is None:
            config = self.config
            assert config is not None
            delay = config.max_publish_delay_ms
            by_key = config.batch_by_key
            producer = self.context.get_pulsar_client().create_producer(
                topic,
                batching_enabled=delay > 0,
                batching_max_publish_delay_ms=max(delay, 1),
                batching_type=pulsar.BatchingType.KeyBased if by_key else pulsar.BatchingType.Default,
                block_if_queue_full=True,
                send_timeout_millis=0,
            )
            self._producers[topic] = producer
        return producer

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        """Send the original bytes to the dead-letter topic with the reason, and ack on confirmation."""
        self.record("dead_letters", 1)
        self.publish(
            self.config.dead_letter_topic,  # type: ignore[union-attr]
            delivery.payload,
            properties=dead_letter_properties(  # type: ignore[arg-type]
                reason, self.context.get_function_name() or self.role, delivery.topic, delivery.message_id
            ),
            acks=(delivery,),
        )

    def metric_event(self, key: str, record: dict[str, Any], acks: Iterable[Delivery] = ()) -> None:
        """Publish one record to the metrics topic (drift, promotions, rejections, expiries, windows)."""
        record.setdefault("function", self.role)
        record.setdefault("at", time.time())
        self.publish(self.config.metrics_topic, encode(record), key=key, acks=acks)  # type: ignore[union-attr]

    def record(self, name: str, value: float) -> None:
        """``context.record_metric``, exported by Pulsar as ``pulsar_function_user_metric_*``."""
        if self.context is not None and math.isfinite(value):
            self.context.record_metric(name, value)


def instances_of(context: Any) -> int | None:
    """How many instances the function runs (its ``parallelism``); ``None`` if the context does not say.

    Java's Context has ``getNumInstances()``, Pulsar 4.0's Python Context does not: it holds the instance's
    ``FunctionDetails`` (``instance_config.function_details``), which has it. The embedded runtime's
    Context has ``get_num_instances()``.

    >>> from types import SimpleNamespace as Object
    >>> on_pulsar = Object(instance_config=Object(function_details=Object(parallelism=2)))
    >>> instances_of(on_pulsar), instances_of(Object(get_num_instances=lambda: 1)), instances_of(Object())
    (2, 1, None)
    """
    count = getattr(context, "get_num_instances", None)
    if count is not None:
        return int(count())
    details = getattr(getattr(context, "instance_config", None), "function_details", None)
    parallelism = getattr(details, "parallelism", None)
    return int(parallelism) if parallelism else None


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    raise BadMessage(
        f"payload: got {type(value).__name__}; "
        "set inputSpecs.<topic>.serdeClassName to streamloop.worker.codec.RawBytes"
    )
