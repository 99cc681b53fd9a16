"""Function state written behind the processing thread, in batches, and the inputs acked once it is stored.

Pulsar's Python ``put_state`` is a synchronous gRPC call to BookKeeper's table service: about 2 ms each on
a standalone. Written inline, the features function's flush of ~50 keys stalled ``process()`` for ~100 ms
every 100 events, and every event behind it waited (measured in ``make bench``). :class:`WriteBehindState`
has the same ``put_state``/``get_state`` as the context, so
:class:`~streamloop.worker.statestore.ChunkedState`,
the learner's checkpoints and the features window cache use it unchanged:

- ``put_state`` goes into the *open batch* (a later put of the same key replaces the value and moves it to
  the end: writes land in the order of their last put, so a manifest written after its chunks still is);
- :meth:`~WriteBehindState.commit` queues the open batch with the deliveries it covers and returns. One
  writer thread takes everything queued, merges it into one batch (each key once, newest value, same
  order rule), stores it, and only then releases the deliveries (acks them). A failed ``put_state`` is
  retried with a back-off; the deliveries stay unacked until it succeeds (or Pulsar redelivers them after
  a restart), so nothing is acked before it is saved. Batches queue up while one is written, so a slow
  store makes fewer, larger writes; with ``max_queued`` batches waiting, ``commit`` waits (back-pressure);
- ``get_state`` reads the newest value: the open batch, the queued ones, the one being written, then the
  context.

With the runner's in-process stores (:mod:`streamloop.runtime.state`) a put costs nothing and ``commit``
writes inline, which keeps the embedded runner deterministic.

>>> class Memory(dict):
...     def put_state(self, key, value): self[key] = value
...     def get_state(self, key): return self[key].encode() if key in self else None
>>> context = Memory()
>>> state = WriteBehindState(context, background=False)
>>> state.put_state("a", "1"); state.put_state("b", "2"); state.put_state("a", "3")
>>> context, state.get_state("a")
({}, b'3')
>>> state.commit([])
>>> context
{'b': '2', 'a': '3'}
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol

from streamloop.runtime.state import StateStore

log = logging.getLogger("streamloop")

RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0, 10.0)  # back-off between attempts to store a batch; the last repeats


class Releasable(Protocol):
    def release(self) -> None: ...


def writes_behind(context: Any) -> bool:
    """Whether ``context``'s state is remote (Pulsar's table service), so writes go to the writer thread.

    The runner's in-process stores (:class:`~streamloop.runtime.state.StateStore`) are written inline.
    """
    return not isinstance(getattr(context, "state", None), StateStore)


class WriteBehindState:
    """``put_state``/``get_state`` over ``context``, stored in merged batches by one background thread."""

    def __init__(
        self, context: Any, *, background: bool | None = None, max_queued: int = 10, name: str = "state"
    ) -> None:
        self._context = context
        self._background = writes_behind(context) if background is None else background
        self._max_queued = max_queued
        self._name = name
        self._open: dict[str, str] = {}
        self._queued: list[tuple[dict[str, str], Sequence[Releasable]]] = []
        self._writing: dict[str, str] = {}  # the merged batch the writer thread is storing
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    # -- the context's state API -----------------------------------------------------------------------
    def put_state(self, key: str, value: str) -> None:
        self._open.pop(key, None)
        self._open[key] = value

    def get_state(self, key: str) -> bytes | None:
        value = self._open.get(key)
        if value is None:
            with self._changed:
                for batch, _ in reversed(self._queued):
                    value = batch.get(key)
                    if value is not None:
                        break
                else:
                    value = self._writing.get(key)
        if value is not None:
            return value.encode("utf-8")
        return self._context.get_state(key)

    # -- batches -----------------------------------------------------------------------------------------
    def commit(self, releases: Sequence[Releasable]) -> None:
        """Store the open batch, then release ``releases``: inline, or queued for the writer thread.

        Inline, raises what ``put_state`` raises, leaving the rest of the batch open and nothing released.
        """
        if not self._background:
            put_state = self._context.put_state
            for key, value in list(self._open.items()):
                put_state(key, value)
                del self._open[key]
            for delivery in releases:
                delivery.release()
            return
        batch, self._open = self._open, {}
        with self._changed:
            while len(self._queued) >= self._max_queued:
                self._changed.wait()
            self._queued.append((batch, releases))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"streamloop-{self._name}", daemon=True
                )
                self._thread.start()
            self._changed.notify_all()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._queued:
                    self._changed.wait()
                merged: dict[str, str] = {}
                releases: list[Releasable] = []
                for batch, waiting in self._queued:
                    for key, value in batch.items():
                        merged.pop(key, None)
                        merged[key] = value
                    releases.extend(waiting)
                self._queued = []
                self._writing = merged
                self._changed.notify_all()
            self._store(merged)
            with self._changed:
                self._writing = {}
                self._changed.notify_all()
            for delivery in releases:
                delivery.release()

    def _store(self, batch: dict[str, str]) -> None:
        """Every put of ``batch`` in order, the whole batch again after a failure (puts are idempotent)."""
        attempt = 0
        while True:
            try:
                for key, value in batch.items():
                    self._context.put_state(key, value)
                return
            except Exception:
                delay = RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)]
                log.exception(
                    "%s: storing %d state values failed; retrying in %.1f s", self._name, len(batch), delay
                )
                attempt += 1
                time.sleep(delay)
