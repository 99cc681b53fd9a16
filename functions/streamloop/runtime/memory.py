"""An in-memory Pulsar: a subset of ``pulsar.Client``'s API, so the same code runs against either.

Messages are pushed into per-consumer queues when they are sent (no polling, no per-message sorting),
so a send → receive → ack round trip costs a few microseconds. Like the real client, confirmations are
asynchronous: ``send_async`` callbacks are queued and run by :meth:`MemoryClient.run_callbacks` (the
runner calls it after each ``process``), so code that assumes a publish is confirmed when ``send_async``
returns is caught by tests. It is single-threaded, like the runner that drives it: nothing arrives while a
``receive`` or ``read_next`` waits, so they raise ``pulsar.Timeout`` at once when nothing is there.

>>> client = MemoryClient()
>>> consumer = client.subscribe("events", "sub", initial_position=pulsar.InitialPosition.Earliest)
>>> producer = client.create_producer("events")
>>> producer.send_async(b"hello", lambda result, msg_id: print(result, msg_id), partition_key="k1")
>>> client.run_callbacks()
Result.Ok (0,0,-1,-1)
1
>>> msg = consumer.receive(timeout_millis=0)
>>> msg.data(), msg.partition_key(), msg.topic_name()
(b'hello', 'k1', 'persistent://public/default/events')
>>> consumer.acknowledge(msg)
>>> consumer.receive(timeout_millis=0)
Traceback (most recent call last):
...
_pulsar.Timeout: Pulsar error: TimeOut
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterable
from hashlib import blake2b
from typing import Any

import pulsar

from streamloop.worker.config import topic as qualify

Callback = Callable[[pulsar.Result, "MessageId"], None]
_OK = pulsar.Result.Ok
_LATEST_LEDGER = pulsar.MessageId.latest.ledger_id()
_RING_POINTS = 100  # points per consumer on the Key_Shared hash ring, as the broker's default


def _hash(text: str) -> int:
    """A stable 32-bit hash (the broker uses Murmur3; Python's ``hash()`` changes per process)."""
    return int.from_bytes(blake2b(text.encode(), digest_size=4).digest(), "big")


_NON_KEY_HASH = _hash("NON_KEY")
_NO_PROPERTIES: dict[str, str] = {}  # shared by messages without properties: a Message never changes its own


class MessageId:
    """Where a message is stored: one ledger per topic, entries numbered from 0.

    >>> str(MessageId(3, 7, 0))
    '(3,7,-1,-1)'
    """

    __slots__ = ("_entry", "_ledger", "_seq")

    def __init__(self, ledger: int, entry: int, seq: int) -> None:
        self._ledger = ledger
        self._entry = entry
        self._seq = seq  # unique across the client: what acks are keyed on

    def ledger_id(self) -> int:
        return self._ledger

    def entry_id(self) -> int:
        return self._entry

    def partition(self) -> int:
        return -1

    def batch_index(self) -> int:
        return -1

    def __str__(self) -> str:
        return f"({self._ledger},{self._entry},-1,-1)"

    __repr__ = __str__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MessageId) and other._seq == self._seq

    def __hash__(self) -> int:
        return self._seq


class Message:
    """A received message, with ``pulsar.Message``'s accessors."""

    __slots__ = ("_data", "_event_ts", "_id", "_key", "_properties", "_publish_ts", "_redeliveries", "_topic")

    def __init__(
        self,
        data: bytes,
        key: str,
        properties: dict[str, str],
        event_ts: int,
        publish_ts: int,
        message_id: MessageId,
        topic: str,
        redeliveries: int = 0,
    ) -> None:
        self._data = data
        self._key = key
        self._properties = properties
        self._event_ts = event_ts
        self._publish_ts = publish_ts
        self._id = message_id
        self._topic = topic
        self._redeliveries = redeliveries

    def data(self) -> bytes:
        return self._data

    def value(self) -> bytes:
        return self._data  # BytesSchema, the only schema here

    def partition_key(self) -> str:
        return self._key

    def properties(self) -> dict[str, str]:
        return dict(self._properties)

    def event_timestamp(self) -> int:
        return self._event_ts

    def publish_timestamp(self) -> int:
        return self._publish_ts

    def message_id(self) -> MessageId:
        return self._id

    def topic_name(self) -> str:
        return self._topic

    def redelivery_count(self) -> int:
        return self._redeliveries

    def _redelivered(self) -> Message:
        return Message(
            self._data,
            self._key,
            self._properties,
            self._event_ts,
            self._publish_ts,
            self._id,
            self._topic,
            self._redeliveries + 1,
        )


def _seq_of(msg_or_id: Any) -> int:
    return (msg_or_id._id if isinstance(msg_or_id, Message) else msg_or_id)._seq


# A stored message: (data, key, properties or None, event_ts, publish_ts, seq); its entry id is its index in
# the log. Plain tuples of bytes, str and int (no dict, even empty), which the garbage collector stops
# tracking: a long log of Message objects would make every full collection walk all of them.
Stored = tuple[bytes, str, "dict[str, str] | None", int, int, int]

# A delivered message not yet acked, as its consumer keeps it: (topic name, entry, redelivery count). Plain
# values too, which the collector stops tracking: the unacked messages a function holds for long (the
# joiner's pending set, the learner's examples until a checkpoint) are no longer walked by every full
# collection, nor counted towards starting one. The Message is rebuilt from the log to redeliver it.
Unacked = tuple[str, int, int]


class _Topic:
    """A topic's log and its subscriptions."""

    __slots__ = ("last_entry", "ledger", "log", "name", "subscriptions")

    def __init__(self, name: str, ledger: int) -> None:
        self.name = name
        self.ledger = ledger
        self.log: list[Stored] = []
        self.subscriptions: dict[str, _Subscription] = {}
        self.last_entry: dict[str, int] | None = None  # key -> its last entry, kept once compacted

    @property
    def compacted(self) -> bool:
        return self.last_entry is not None

    def message(self, entry: int, redeliveries: int = 0) -> Message:
        """The message stored at ``entry``, new, as delivered ``redeliveries`` times before."""
        data, key, properties, event_ts, publish_ts, seq = self.log[entry]
        return Message(
            data,
            key,
            properties or _NO_PROPERTIES,
            event_ts,
            publish_ts,
            MessageId(self.ledger, entry, seq),
            self.name,
            redeliveries,
        )

    def compact(self, compacted: bool) -> None:
        self.last_entry = {m[1]: i for i, m in enumerate(self.log) if m[1]} if compacted else None

    def superseded(self, entry: int) -> bool:
        """Whether compaction would have removed ``entry`` (a later message has the same key)."""
        key = self.log[entry][1]
        return bool(key) and self.last_entry is not None and self.last_entry[key] > entry


class _Subscription:
    """A cursor over one topic shared by its consumers; ``dispatch`` hands each message to one of them."""

    __slots__ = (
        "_cache",
        "_ring",
        "_rr",
        "backlog",
        "consumer_type",
        "consumers",
        "dispatch",
        "name",
        "topic",
    )

    def __init__(self, topic: _Topic, name: str, consumer_type: pulsar.ConsumerType, start: int) -> None:
        self.topic = topic
        self.name = name
        self.consumer_type = consumer_type
        self.consumers: list[MemoryConsumer] = []
        # kept while no consumer is attached
        self.backlog: deque[Message] = deque(topic.message(i) for i in range(start, len(topic.log)))
        self._rr = 0
        self._ring: list[tuple[int, MemoryConsumer]] = []
        self._cache: dict[str, MemoryConsumer] = {}
        self.dispatch: Callable[[Message], None] = self.backlog.append

    def attach(self, consumer: MemoryConsumer) -> None:
        if self.consumers and self.consumer_type == pulsar.ConsumerType.Exclusive:
            raise pulsar.ConsumerBusy(f"Exclusive subscription {self.name} already has a consumer")
        self.consumers.append(consumer)
        self._rearrange()
        waiting = list(self.backlog)
        self.backlog.clear()
        for msg in waiting:
            self.dispatch(msg)

    def detach(self, consumer: MemoryConsumer, unacked: list[Message]) -> None:
        """Remove ``consumer``; its unacked messages go back, in their original order, to the others."""
        self.consumers.remove(consumer)
        self._rearrange()
        if self.consumers:
            for msg in sorted(unacked, key=_entry_of):
                self.dispatch(msg)
        else:
            waiting = sorted((*unacked, *self.backlog), key=_entry_of)
            self.backlog.clear()
            self.backlog.extend(waiting)

    def _rearrange(self) -> None:
        """Choose the dispatch rule for the consumers now connected (a push straight into a queue if one)."""
        self._cache.clear()
        kind = self.consumer_type
        if not self.consumers:
            self.dispatch = self.backlog.append
        elif len(self.consumers) == 1 or kind in (
            pulsar.ConsumerType.Failover,
            pulsar.ConsumerType.Exclusive,
        ):
            self.dispatch = self.consumers[0]._push
        elif kind == pulsar.ConsumerType.Shared:
            self.dispatch = self._round_robin
        else:
            self._ring = sorted(
                (_hash(f"{c.name}:{i}"), c) for c in self.consumers for i in range(_RING_POINTS)
            )
            self.dispatch = self._by_key

    def _round_robin(self, msg: Message) -> None:
        consumers = self.consumers
        self._rr = (self._rr + 1) % len(consumers)
        consumers[self._rr - 1]._push(msg)

    def _by_key(self, msg: Message) -> None:
        key = msg._key
        consumer = self._cache.get(key)
        if consumer is None:
            point = _hash(key) if key else _NON_KEY_HASH
            index = bisect_left(self._ring, point, key=_point_of) % len(self._ring)
            consumer = self._cache[key] = self._ring[index][1]
        consumer._push(msg)


def _entry_of(msg: Message) -> int:
    return msg._id._entry


def _point_of(item: tuple[int, Any]) -> int:
    return item[0]


class MemoryProducer:
    """``pulsar.Producer``: ``send``, ``send_async``, ``flush``, ``close``.

    On a partitioned topic a keyed message goes to the partition its key hashes to, an unkeyed one to
    the next partition in turn (Pulsar's default routing).
    """

    __slots__ = ("_client", "_name", "_next", "_partitions")

    def __init__(self, client: MemoryClient, name: str, partitions: list[_Topic]) -> None:
        self._client = client
        self._name = name
        self._partitions = partitions  # one topic unless partitioned
        self._next = 0

    def topic(self) -> str:
        return self._name

    def _route(self, key: str | None) -> _Topic:
        partitions = self._partitions
        if len(partitions) == 1:
            return partitions[0]
        if key:
            return partitions[_hash(key) % len(partitions)]
        self._next += 1
        return partitions[self._next % len(partitions)]

    def send(
        self,
        content: bytes,
        properties: dict[str, str] | None = None,
        partition_key: str | None = None,
        event_timestamp: int | None = None,
        **ignored: Any,
    ) -> MessageId:
        result, msg_id = self._client._publish(
            self._route(partition_key), content, properties, partition_key, event_timestamp
        )
        if result is not _OK:
            raise getattr(pulsar, result.name, pulsar.PulsarException)(f"send to {self._name}: {result}")
        return msg_id  # type: ignore[return-value]

    def send_async(
        self,
        content: bytes,
        callback: Callback | None,
        properties: dict[str, str] | None = None,
        partition_key: str | None = None,
        event_timestamp: int | None = None,
        **ignored: Any,
    ) -> None:
        result, msg_id = self._client._publish(
            self._route(partition_key), content, properties, partition_key, event_timestamp
        )
        if callback is not None:
            self._client._callbacks.append((callback, result, msg_id))

    def flush(self) -> None:
        """Everything is stored when sent; callbacks still wait for ``run_callbacks``."""

    def close(self) -> None:
        """Nothing to release."""


class MemoryConsumer:
    """``pulsar.Consumer`` over one or more topics, with individual acks and redelivery on close."""

    __slots__ = ("_client", "_closed", "_outstanding", "_queue", "_subscriptions", "name")

    def __init__(self, client: MemoryClient, name: str) -> None:
        self._client = client
        self.name = name
        self._queue: deque[Message] = deque()
        self._outstanding: dict[int, Unacked] = {}  # by seq: delivered (queued or received), not yet acked
        self._subscriptions: list[_Subscription] = []
        self._closed = False

    def _push(self, msg: Message) -> None:
        self._queue.append(msg)
        msg_id = msg._id
        self._outstanding[msg_id._seq] = (msg._topic, msg_id._entry, msg._redeliveries)

    def _message(self, unacked: Unacked) -> Message:
        """The unacked message, as it was delivered."""
        name, entry, redeliveries = unacked
        return self._client.topic(name).message(entry, redeliveries)

    def topic(self) -> str:
        return self._subscriptions[0].topic.name

    def subscription_name(self) -> str:
        return self._subscriptions[0].name

    def receive(self, timeout_millis: int | None = None) -> Message:
        """The next message; raises ``pulsar.Timeout`` if none is queued (nothing comes while waiting)."""
        try:
            return self._queue.popleft()
        except IndexError:
            if self._closed:
                raise pulsar.AlreadyClosed("consumer closed") from None
            raise pulsar.Timeout("Pulsar error: TimeOut") from None

    def receive_nowait(self) -> Message | None:
        """The next message already queued, else ``None``: ``receive(0)`` without the exception."""
        if self._queue:
            return self._queue.popleft()
        if self._closed:
            raise pulsar.AlreadyClosed("consumer closed")
        return None

    def acknowledge(self, message: Message | MessageId) -> None:
        if self._closed:
            raise pulsar.AlreadyClosed("consumer closed")
        seq = _seq_of(message)
        if self._outstanding.pop(seq, None) is None:  # delivered to a sibling on the same subscription
            for sub in self._subscriptions:
                for other in sub.consumers:
                    other._outstanding.pop(seq, None)

    def negative_acknowledge(self, message: Message | MessageId) -> None:
        """Redeliver later: when :meth:`MemoryClient.redeliver_nacked` runs (the nack delay elapsing)."""
        unacked = self._outstanding.pop(_seq_of(message), None)
        if unacked is not None:
            self._client._nacked.append((self, self._message(unacked)))

    def close(self) -> None:
        """Disconnect without acking: every unacked message is redelivered, in order (a crash)."""
        if self._closed:
            return
        self._closed = True
        unacked = list(self._outstanding.values())
        self._outstanding.clear()
        self._queue.clear()
        for sub in self._subscriptions:
            topic = sub.topic
            mine = [topic.message(entry, count + 1) for name, entry, count in unacked if name == topic.name]
            sub.detach(self, mine)

    def unsubscribe(self) -> None:
        """Delete the subscription(s) and their backlog."""
        self._outstanding.clear()
        self.close()
        for sub in self._subscriptions:
            sub.topic.subscriptions.pop(sub.name, None)


class MemoryReader:
    """``pulsar.Reader``: reads a topic from a position, without a subscription."""

    __slots__ = ("_compacted", "_next", "_topic")

    def __init__(self, topic: _Topic, start: int, compacted: bool) -> None:
        self._topic = topic
        self._next = start
        self._compacted = compacted

    def _skip_compacted(self) -> None:
        topic = self._topic
        while self._next < len(topic.log) and topic.superseded(self._next):
            self._next += 1

    def has_message_available(self) -> bool:
        if self._compacted:
            self._skip_compacted()
        return self._next < len(self._topic.log)

    def read_next(self, timeout_millis: int | None = None) -> Message:
        """The next message; raises ``pulsar.Timeout`` if there is none (nothing comes while waiting)."""
        if not self.has_message_available():
            raise pulsar.Timeout("Pulsar error: TimeOut")
        msg = self._topic.message(self._next)
        self._next += 1
        return msg

    def topic(self) -> str:
        return self._topic.name

    def close(self) -> None:
        """Nothing to release."""


class MemoryClient:
    """The subset of ``pulsar.Client`` streamloop uses, in memory, plus test controls.

    Test controls: :meth:`run_callbacks`, :meth:`fail_sends`, :meth:`set_compacted`,
    :meth:`redeliver_nacked`, :meth:`messages` and :meth:`unacked`.
    """

    def __init__(self) -> None:
        self._topics: dict[str, _Topic] = {}
        self._partitioned: dict[str, list[str]] = {}  # topic -> its partitions' names
        self._callbacks: deque[tuple[Callable[[Any, Any], None], Any, Any]] = deque()  # (fn, arg, arg)
        self._failures: dict[str, deque[pulsar.Result]] = {}
        self._nacked: list[tuple[MemoryConsumer, Message]] = []
        self._seq = 0
        self._consumer_count = 0

    # -- pulsar.Client -------------------------------------------------------------------------------
    def create_producer(self, topic: str, **ignored: Any) -> MemoryProducer:
        return MemoryProducer(self, qualify(topic), [self.topic(name) for name in self._partitions(topic)])

    def subscribe(
        self,
        topic: str | Iterable[str],
        subscription_name: str,
        consumer_type: pulsar.ConsumerType = pulsar.ConsumerType.Exclusive,
        initial_position: pulsar.InitialPosition = pulsar.InitialPosition.Latest,
        consumer_name: str | None = None,
        **ignored: Any,
    ) -> MemoryConsumer:
        names = [p for name in ([topic] if isinstance(topic, str) else topic) for p in self._partitions(name)]
        self._consumer_count += 1
        consumer = MemoryConsumer(self, consumer_name or f"consumer-{self._consumer_count}")
        for name in names:
            t = self.topic(name)
            sub = t.subscriptions.get(subscription_name)
            if sub is None:
                start = 0 if initial_position == pulsar.InitialPosition.Earliest else len(t.log)
                sub = t.subscriptions[subscription_name] = _Subscription(
                    t, subscription_name, consumer_type, start
                )
            elif sub.consumer_type != consumer_type and sub.consumers:
                raise pulsar.ConsumerBusy(f"subscription {subscription_name} has another consumer type")
            sub.consumer_type = consumer_type
            sub.attach(consumer)
            consumer._subscriptions.append(sub)
        return consumer

    def create_reader(
        self, topic: str, start_message_id: Any, is_read_compacted: bool = False, **ignored: Any
    ) -> MemoryReader:
        t = self.topic(topic)
        if start_message_id.ledger_id() < 0:
            start = 0
        elif start_message_id.ledger_id() == _LATEST_LEDGER:
            start = len(t.log)
        else:
            start = start_message_id.entry_id() + 1
        return MemoryReader(t, start, is_read_compacted and t.compacted)

    def close(self) -> None:
        """Nothing to release; pending callbacks are dropped like a closing client's."""
        self._callbacks.clear()

    # -- test controls -------------------------------------------------------------------------------
    def topic(self, name: str) -> _Topic:
        """The topic named ``name`` (short names are in ``public/default``), created on first use."""
        full = qualify(name)
        t = self._topics.get(full)
        if t is None:
            t = self._topics[full] = _Topic(full, len(self._topics))
        return t

    def create_partitioned_topic(self, topic: str, partitions: int) -> None:
        """Make ``topic`` partitioned (before any use): its messages live in ``<topic>-partition-<i>``,
        which is the topic name a consumer of ``topic`` sees on each of them."""
        full = qualify(topic)
        if full in self._topics or partitions < 1:
            raise ValueError(f"{full}: already in use, or fewer than one partition")
        self._partitioned[full] = [f"{full}-partition-{i}" for i in range(partitions)]

    def _partitions(self, topic: str) -> list[str]:
        """The names a topic's messages are stored under: its partitions', or its own."""
        full = qualify(topic)
        return self._partitioned.get(full) or [full]

    def set_compacted(self, topic: str, compacted: bool = True) -> None:
        """Mark ``topic`` compacted: compacted readers see only the latest value of each key."""
        self.topic(topic).compact(compacted)

    def fail_sends(self, topic: str, n: int = 1, result: pulsar.Result = pulsar.Result.Timeout) -> None:
        """Make the next ``n`` sends to ``topic`` fail with ``result`` (nothing is stored)."""
        self._failures.setdefault(qualify(topic), deque()).extend([result] * n)

    def stop_failing_sends(self) -> None:
        """Forget the failures :meth:`fail_sends` queued that no send has met yet."""
        self._failures.clear()

    def run_callbacks(self) -> int:
        """Run queued send callbacks (and the ones they cause); return the count."""
        done = 0
        callbacks = self._callbacks
        while callbacks:
            callback, first, second = callbacks.popleft()
            callback(first, second)
            done += 1
        return done

    def redeliver_nacked(self) -> int:
        """Redeliver negatively acknowledged messages (as when the nack delay has passed)."""
        nacked, self._nacked = self._nacked, []
        for consumer, msg in nacked:
            again = msg._redelivered()
            if consumer._closed:  # already handed back on close
                continue
            consumer._push(again)
        return len(nacked)

    def topics(self) -> list[str]:
        """The name of every topic something was sent to or subscribed on, in creation order."""
        return list(self._topics)

    def messages(self, topic: str) -> list[Message]:
        """Every message stored on ``topic`` (on all its partitions), in the order they were sent."""
        stored = [t.message(i) for t in map(self.topic, self._partitions(topic)) for i in range(len(t.log))]
        return sorted(stored, key=_seq_of)

    def unacked(self, topic: str, subscription_name: str) -> list[MessageId]:
        """Ids of a subscription's messages not yet acked (undelivered, delivered or nacked), in order."""
        pending: list[Message] = []
        for name in self._partitions(topic):
            sub = self.topic(name).subscriptions.get(subscription_name)
            if sub is None:
                continue
            mine = [*sub.backlog, *(c._message(u) for c in sub.consumers for u in c._outstanding.values())]
            mine += [m for c, m in self._nacked if sub in c._subscriptions]
            pending += [m for m in mine if m._topic == name]
        return [m._id for m in sorted(pending, key=_seq_of)]

    # -- internals -----------------------------------------------------------------------------------
    def _publish(
        self,
        t: _Topic,
        content: bytes,
        properties: dict[str, str] | None,
        key: str | None,
        event_timestamp: int | None,
    ) -> tuple[pulsar.Result, MessageId | None]:
        if type(content) is not bytes:
            if not isinstance(content, (bytearray, memoryview)):
                raise TypeError(f"expected bytes, got {type(content).__name__}")
            content = bytes(content)
        if self._failures:
            failures = self._failures.get(t.name)
            if failures:
                return failures.popleft(), None
        publish_ts = int(time.time() * 1000)
        key = key or ""
        properties = dict(properties) if properties else _NO_PROPERTIES
        event_ts = event_timestamp or 0
        self._seq += 1
        log = t.log
        entry = len(log)
        msg_id = MessageId(t.ledger, entry, self._seq)
        msg = Message(content, key, properties, event_ts, publish_ts, msg_id, t.name)
        log.append((content, key, properties or None, event_ts, publish_ts, self._seq))
        if t.last_entry is not None and key:
            t.last_entry[key] = entry
        for sub in t.subscriptions.values():
            sub.dispatch(msg)
        return _OK, msg_id
