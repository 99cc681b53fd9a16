"""Replay a dataset into the loop: each event, then its label ``label_delay`` events later.

This is how labels arrive in production (after the fact), and how the demo and ``streamloop replay`` feed
the loop. Works with any pulsar-client-compatible client: the runner's embedded one or a real
``pulsar.Client``.

>>> from streamloop.runtime.memory import MemoryClient
>>> client = MemoryClient()
>>> events = [{"id": str(i), "key": "k", "ts": float(i), "v": i} for i in range(3)]
>>> labels = [{"id": str(i), "label": i % 2 == 0} for i in range(3)]
>>> order = []
>>> def sent(kind, record):
...     order.append(kind + record["id"])
>>> counts = replay(client, events, labels, label_delay=1, on_sent=sent)
>>> order
['e0', 'e1', 'l0', 'e2', 'l1', 'l2']
>>> counts
{'events': 3, 'labels': 3}
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import pulsar

from streamloop.worker.codec import encode
from streamloop.worker.config import topic

_OK = pulsar.Result.Ok


def replay(
    client: Any,
    events: Iterable[dict[str, Any]],
    labels: Iterable[dict[str, Any] | None],
    *,
    label_delay: int = 0,
    events_topic: str = topic("events"),
    labels_topic: str = topic("labels"),
    rate: float | None = None,
    on_sent: Callable[[str, dict[str, Any]], None] | None = None,
) -> dict[str, int]:
    """Send ``events`` and, ``label_delay`` events later, the matching ``labels`` (``None`` = unlabelled).

    Events are keyed by their ``key`` field (entity key), labels by event id; labels beyond the last event
    are sent at the end. ``rate`` caps events per second (``None``: as fast as possible).
    ``on_sent(kind, record)`` runs after each send (``kind`` is ``"e"`` or ``"l"``); the embedded runner
    uses it to pump the loop. Returns the counts sent.
    """
    # Key-based batches: the features and joiner functions read with Key_Shared subscriptions.
    options = {"batching_type": pulsar.BatchingType.KeyBased, "block_if_queue_full": True}
    event_producer = client.create_producer(events_topic, **options)
    label_producer = client.create_producer(labels_topic, **options)
    waiting: deque[dict[str, Any] | None] = deque()
    counts = {"events": 0, "labels": 0}
    failures: list[Any] = []
    start = time.monotonic()

    def confirmed(result: Any, message_id: Any) -> None:
        if result is not _OK and result != _OK:  # `is` first: comparing enums costs µs
            failures.append(result)  # raising on the client's thread would kill the process

    def send(producer: Any, kind: str, record: dict[str, Any], key: str) -> None:
        producer.send_async(encode(record), confirmed, partition_key=key or None)
        counts["events" if kind == "e" else "labels"] += 1
        if on_sent is not None:
            on_sent(kind, record)

    def release_label() -> None:
        label = waiting.popleft()
        if label is not None:
            send(label_producer, "l", label, str(label.get("id", "")))

    pending_labels = iter(labels)
    for event in events:
        label = next(pending_labels, None)
        if rate:
            delay = start + counts["events"] / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        send(event_producer, "e", event, str(event.get("key") or ""))
        waiting.append(label)
        if len(waiting) > label_delay:
            release_label()
    waiting.extend(pending_labels)  # labels beyond the last event (e.g. for unknown ids) go last
    while waiting:
        release_label()
    event_producer.flush()
    label_producer.flush()
    if failures:
        raise RuntimeError(f"replay: {len(failures)} sends failed, first: {failures[0]}")
    return counts
