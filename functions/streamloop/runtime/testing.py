"""``FunctionHarness``: drive one function with messages and look at what it did — no broker.

Built on the runner's pieces (in-memory client, Context, instances), like Bytewax's ``TestingSource``/
``TestingSink``: each :meth:`~FunctionHarness.send` is processed at once, callbacks and the function's
background work (state writes, the model feed) included, and then outputs, acks, state, metrics and logs
can be inspected.

>>> from streamloop.worker.codec import decode_object, encode
>>> from streamloop.worker.function import StreamFunction
>>> class Shout(StreamFunction):
...     def on_message(self, delivery, context):
...         record = decode_object(delivery.payload)
...         out = encode({"id": record["id"], "text": record["text"].upper()})
...         self.publish("shouts", out, key=delivery.key, acks=[delivery])
>>> h = FunctionHarness(Shout, inputs=["words"])
>>> first = h.send({"id": "1", "text": "hello"}, key="k1")
>>> h.records("shouts")
[{'id': '1', 'text': 'HELLO'}]
>>> h.messages("shouts")[0].key, h.acked == [first]
('k1', True)
>>> _ = h.send(b"[1, 2]")
>>> h.dead_letters[0].payload, h.dead_letters[0].properties["error"]
(b'[1, 2]', 'payload: expected a JSON object, got list')
>>> h.fail_sends("shouts", 1); third = h.send({"id": "3", "text": "lost"})
>>> h.unacked == [third]
True
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from streamloop.runtime.definition import define
from streamloop.runtime.keys import KeyStore
from streamloop.runtime.memory import MemoryClient, MemoryProducer, MessageId
from streamloop.runtime.runner import Runner
from streamloop.worker.config import FunctionFile, topic
from streamloop.worker.secretkeys import GENERATE


class Output(NamedTuple):
    """One message a function published."""

    payload: bytes
    key: str
    properties: dict[str, str]


class _Capture(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.name}: {record.getMessage()}")


class FunctionHarness:
    """One function (``parallelism`` instances) on an in-memory Pulsar, processing each send at once."""

    def __init__(
        self,
        function_class: type,
        user_config: Mapping[str, Any] | None = None,
        secrets: Mapping[str, Any] | None = None,
        inputs: Sequence[str] = ("input",),
        output: str | None = None,
        name: str | None = None,
        parallelism: int = 1,
        partitions: Mapping[str, int] | None = None,
        keys: KeyStore | None = None,
        **function_config: Any,
    ) -> None:
        """``partitions`` makes topics partitioned (name → count); ``function_config`` adds FunctionConfig
        keys (e.g. ``retainKeyOrdering=True``).

        Without ``secrets``, every secret the class reads (``secrets``) gets a random key for this run, or
        its namespace's key in ``keys`` (harnesses sharing ``keys`` share keys, like one deploy's functions).
        """
        if secrets is None:
            secrets = dict.fromkeys(getattr(function_class, "secrets", ()), GENERATE)
        qualified = [topic(t) for t in inputs]
        config = {
            "name": name or function_class.__name__,
            "className": f"{function_class.__module__}.{function_class.__qualname__}",
            "inputs": qualified,
            "inputSpecs": {t: {"serdeClassName": "streamloop.worker.codec.RawBytes"} for t in qualified},
            "processingGuarantees": "MANUAL",
            "parallelism": parallelism,
            "userConfig": dict(user_config or {}),
            "secrets": dict(secrets),
            **({"output": topic(output)} if output else {}),
            **function_config,
        }
        file = FunctionFile(Path(f"<{function_class.__name__}>"), config)
        self._setup(define(file, function_class=function_class), partitions, keys)

    @classmethod
    def from_yaml(
        cls,
        path: str | Path,
        user_config: Mapping[str, Any] | None = None,
        secrets: Mapping[str, Any] | None = None,
        keys: KeyStore | None = None,
    ) -> FunctionHarness:
        """The function of a FunctionConfig YAML, with ``user_config``/``secrets`` overriding the file's
        (its ``generate`` secrets get keys from ``keys``, default: this run's own)."""
        harness = cls.__new__(cls)
        harness._setup(define(FunctionFile.load(path), user_config=user_config, secrets=secrets), keys=keys)
        return harness

    def _setup(
        self, definition: Any, partitions: Mapping[str, int] | None = None, keys: KeyStore | None = None
    ) -> None:
        self.definition = definition
        self.name: str = definition.name
        self.client = MemoryClient()
        for name, count in (partitions or {}).items():
            self.client.create_partitioned_topic(name, count)
        self.runner = Runner([definition], self.client, keep_metric_values=True, keys=keys)
        self.runner.start()
        self.logs: list[str] = []
        self._producers: dict[str, MemoryProducer] = {}

    # -- driving -------------------------------------------------------------------------------------
    def send(
        self,
        payload: bytes | dict[str, Any],
        topic: str | None = None,
        key: str | None = None,
        properties: Mapping[str, str] | None = None,
        event_time: int | None = None,
    ) -> MessageId:
        """Send one input (a dict is JSON-encoded) to ``topic`` (the first input), then process it."""
        name = topic or self.definition.spec.inputs[0]
        producer = self._producers.get(name)
        if producer is None:
            producer = self._producers[name] = self.client.create_producer(name)
        data = orjson.dumps(payload) if isinstance(payload, dict) else payload
        msg_id = producer.send(
            data, properties=dict(properties or {}), partition_key=key, event_timestamp=event_time
        )
        self.pump()
        return msg_id

    def pump(self) -> int:
        """Process everything pending (sends made through :attr:`client`, callbacks); return the count."""
        with self._capture():
            return self.runner.pump()

    def restart(self, instance: int | None = None) -> int:
        """Crash the instance(s) without acking, start new ones on the same state, process redeliveries."""
        with self._capture():
            self.runner.restart(self.name, instance)
        return self.pump()

    def fail_sends(self, topic_name: str, n: int = 1) -> None:
        """Make the next ``n`` publishes to ``topic_name`` fail (their callbacks get a non-Ok result)."""
        self.client.fail_sends(topic_name, n)

    @contextmanager
    def _capture(self) -> Iterator[None]:
        logger = logging.getLogger("streamloop")
        handler, level = _Capture(self.logs), logger.level
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        try:
            yield
        finally:
            logger.removeHandler(handler)
            logger.setLevel(level)

    # -- looking -------------------------------------------------------------------------------------
    def messages(self, topic_name: str) -> list[Output]:
        """Everything published to ``topic_name``, in order."""
        return [Output(m.data(), m.partition_key(), m.properties()) for m in self.client.messages(topic_name)]

    def records(self, topic_name: str) -> list[Any]:
        """The JSON payloads published to ``topic_name``, decoded."""
        return [orjson.loads(m.data()) for m in self.client.messages(topic_name)]

    @property
    def dead_letters(self) -> list[Output]:
        topic_name = self.definition.spec.user_config.get("dead_letter_topic", topic("dead-letters"))
        return self.messages(topic_name)

    @property
    def unacked(self) -> list[MessageId]:
        """Input messages not acked yet, in order."""
        sub = self.definition.subscription
        return [i for t in self.definition.spec.inputs for i in self.client.unacked(t, sub)]

    @property
    def acked(self) -> list[MessageId]:
        """Input messages acked, in order."""
        pending = set(self.unacked)
        return [
            m.message_id()
            for t in self.definition.spec.inputs
            for m in self.client.messages(t)
            if m.message_id() not in pending
        ]

    @property
    def state(self) -> dict[str, bytes]:
        """The function's state table (``put_state`` values and counters, as stored)."""
        return dict(self.runner.state[self.name].table)  # type: ignore[attr-defined]

    @property
    def metrics(self) -> dict[str, list[float]]:
        """Every value passed to ``record_metric``, by name."""
        return dict(self.runner.metrics[self.name].values)

    def secret(self, name: str) -> Any:
        """What the function's ``context.get_secret(name)`` returns (for ``generate``: the key it got)."""
        return self.runner.definitions[self.name].spec.secrets[name]

    @property
    def functions(self) -> list[Any]:
        """The function objects of the running instances (instance 0 first)."""
        return [i.function for i in self.runner.instances]

    @property
    def function(self) -> Any:
        return self.functions[0]
