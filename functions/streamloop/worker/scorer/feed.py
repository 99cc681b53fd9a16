"""The scorer's model feed: every model message on the models topic (key, value and properties), handed
to a callback.

It reads the compacted topic with a Reader: first up to the end (the latest message of each key, before
the first event is scored), then one message per :meth:`ModelFeed.step`, run by the function's seam (a
thread on a Pulsar worker, the runner between two messages when embedded: the same code either way).

Why not a TableView: Pulsar 4.0's Python instance creates its client with ``message_listener_threads=1``
and blocks that one thread in ``queue.put`` (a one-slot queue) whenever ``process()`` is busy and another
message is already waiting. A TableView's reads complete on that thread, so ``create_table_view`` called
inside ``process()`` (the scorer's setup, on its first message) never returns once messages are queued
behind it: a scorer started on a backlog — after a deploy, a crash or a broker restart — deadlocked and
never scored anything (found by the chaos suite on 4.0.8). A synchronous ``Reader.read_next`` only pops
the reader's own queue, which the IO thread fills, so it never needs the listener thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import pulsar

from streamloop.worker.seam import Finished, Seam

log = logging.getLogger("streamloop.worker.scorer")

OnModel = Callable[[str, bytes, Mapping[str, str]], None]
CATCH_UP_MILLIS = 30_000


class ModelFeed:
    """Reads the models topic and calls ``on_model(key, payload, properties)`` for each message: a
    background job."""

    name = "models feed"

    def __init__(self, client: Any, topic: str, on_model: OnModel) -> None:
        self._reader = client.create_reader(topic, pulsar.MessageId.earliest, is_read_compacted=True)
        self._on_model = on_model

    def catch_up(self) -> None:
        """``on_model`` for the latest message of each key stored now."""
        latest: dict[str, Any] = {}
        while self._reader.has_message_available():
            message = self._reader.read_next(timeout_millis=CATCH_UP_MILLIS)
            latest[message.partition_key()] = message
        for key, message in latest.items():
            self._on_model(key, message.data(), message.properties())

    def step(self, timeout: float) -> bool:
        """Hand over the next message, waiting up to ``timeout`` seconds for one.

        A poll (``timeout`` 0: the embedded seam, after every message) asks whether one is there first,
        rather than raising and catching a timeout each time there is none.
        """
        try:
            if timeout <= 0 and not self._reader.has_message_available():
                return False
            message = self._reader.read_next(timeout_millis=int(timeout * 1000))
        except pulsar.Timeout:
            return False
        except pulsar.AlreadyClosed:  # the instance is shutting down
            raise Finished from None
        self._on_model(message.partition_key(), message.data(), message.properties())
        return True


def follow_models(client: Any, topic: str, on_model: OnModel, seam: Seam) -> ModelFeed:
    """Call ``on_model`` for the latest message of each key now, then (run by ``seam``) for each new one."""
    feed = ModelFeed(client, topic, on_model)
    feed.catch_up()
    seam.run_behind(feed)
    return feed
