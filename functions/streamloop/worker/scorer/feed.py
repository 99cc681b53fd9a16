"""The scorer's model feed: every model message on the models topic, handed to a callback.

Why not a TableView on a real broker: Pulsar 4.0's Python instance creates its client with
``message_listener_threads=1`` and blocks that one thread in ``queue.put`` (a one-slot queue) whenever
``process()`` is busy and another message is already waiting. A TableView's reads complete on that thread,
so ``create_table_view`` called inside ``process()`` (the scorer's setup, on its first message) never
returns once messages are queued behind it: a scorer started on a backlog — after a deploy, a crash or
a broker restart — deadlocked and never scored anything (found by the chaos suite on 4.0.8). A
synchronous ``Reader.read_next`` only pops the reader's own queue, which the IO thread fills, so the feed
reads on its own thread and never needs the listener thread. The embedded client's TableView delivers
updates when the runner runs callbacks, between messages and deterministically; it is used there.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pulsar

log = logging.getLogger("streamloop.worker.scorer")

OnModel = Callable[[str, bytes], None]
READ_MILLIS = 1000


def follow_models(client: Any, topic: str, on_model: OnModel) -> Any:
    """Call ``on_model(key, payload)`` for the latest message of each key now, then for each new one.

    Returns the object that keeps the feed alive (a TableView, or the reader thread).
    """
    if hasattr(client, "run_callbacks"):  # the embedded client: its TableView is deterministic
        table = client.create_table_view(topic)
        table.for_each_and_listen(on_model)
        return table
    reader = client.create_reader(topic, pulsar.MessageId.earliest, is_read_compacted=True)
    latest: dict[str, bytes] = {}
    while reader.has_message_available():  # catch up first: the first message is scored by the current model
        message = reader.read_next(timeout_millis=30_000)
        latest[message.partition_key()] = message.data()
    for key, payload in latest.items():
        on_model(key, payload)
    thread = threading.Thread(target=_follow, args=(reader, on_model), name="streamloop-models", daemon=True)
    thread.start()
    return thread


def _follow(reader: Any, on_model: OnModel) -> None:
    while True:
        try:
            message = reader.read_next(timeout_millis=READ_MILLIS)
        except pulsar.Timeout:
            continue
        except pulsar.AlreadyClosed:  # the instance is shutting down
            return
        except Exception:  # a broker hiccup: the reader reconnects by itself
            log.exception("scorer: reading the models topic failed; retrying")
            time.sleep(1)
            continue
        on_model(message.partition_key(), message.data())
