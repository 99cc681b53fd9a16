"""Function state written behind the processing thread, and the inputs it covers held until it is stored.

Pulsar's Python ``put_state`` is a synchronous gRPC call to BookKeeper's table service: about 2 ms each on
a standalone. Written inline, the features function's flush of ~50 keys stalled ``process()`` for ~100 ms
every 100 events, and a new serving model (up to ~86 one-MB values) blocked the scorer. So every function
that keeps state does it through one :class:`WriteBehindState` (the function base's ``function_state``),
which has the context's ``put_state``/``get_state`` plus ``delete_state``:

- writes go into the *open* :class:`Batch`; :meth:`~WriteBehindState.hold` keeps an input unacked until the
  state put so far is stored (:meth:`~WriteBehindState.hand_over` takes an input its caller already holds,
  once the state covering it is put); :meth:`~WriteBehindState.commit` hands the open batch and the inputs
  held for it to the writer and returns;
- the writer (a :class:`~streamloop.worker.seam.Background` job: a thread on Pulsar, the runner between two
  messages when embedded) stores everything committed since its last write as one merged batch, and only
  then releases (acks) the inputs. A failed write is retried, the inputs staying unacked until it succeeds
  (or Pulsar redelivers them after a restart), so nothing is acked before it is saved. A slow store makes
  fewer, larger writes: each key once, newest value;
- ``get_state`` reads the newest value: the open batch, the committed one, the one being written, then the
  context.

A crash can stop a write after any of its puts, so the order is the crash-safety rule: a batch stores its
puts in the order of each key's last put, then its deletions. Writers put new keys before the value that
points at them (a manifest after its chunks), never overwrite a key a stored value points at, and delete
only what the newest values stop pointing at; then every prefix of what is stored leaves the old value or
the new one readable, however many commits were merged (a deletion never lands before the manifest that
stops referring to it).

>>> class Memory(dict):
...     def put_state(self, key, value): self[key] = value
...     def get_state(self, key): return self[key].encode() if key in self else None
>>> context = Memory(a="0", old="x")
>>> state = WriteBehindState(context)
>>> state.put_state("a", "1"); state.put_state("b", "2"); state.delete_state("old"); state.put_state("a", "3")
>>> state.commit()
>>> context, state.get_state("a"), state.get_state("old")
({'a': '0', 'old': 'x'}, b'3', None)
>>> state.step(timeout=0)
True
>>> context
{'a': '3', 'old': '', 'b': '2'}
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from streamloop.worker.seam import Seam

log = logging.getLogger("streamloop")

_ABSENT = object()


class Releasable(Protocol):
    def release(self) -> None: ...


class Batch:
    """State writes stored together: puts in the order of each key's last put, then deletions.

    >>> batch = Batch(); batch.put("m", "1"); batch.put("c", "x"); batch.delete("old"); batch.put("m", "2")
    >>> later = Batch(); later.delete("c"); later.put("m", "3")
    >>> batch.merge(later); list(batch.puts.items()), list(batch.deletions)
    ([('m', '3')], ['old', 'c'])
    """

    __slots__ = ("deletions", "puts")

    def __init__(self) -> None:
        self.puts: dict[str, str] = {}
        self.deletions: dict[str, None] = {}  # an ordered set

    def __bool__(self) -> bool:
        return bool(self.puts or self.deletions)

    def __len__(self) -> int:
        return len(self.puts) + len(self.deletions)

    def put(self, key: str, value: str) -> None:
        self.deletions.pop(key, None)
        self.puts.pop(key, None)
        self.puts[key] = value

    def delete(self, key: str) -> None:
        self.puts.pop(key, None)
        self.deletions.pop(key, None)
        self.deletions[key] = None

    def merge(self, later: Batch) -> None:
        """Apply ``later``'s writes after this batch's."""
        for key, value in later.puts.items():
            self.put(key, value)
        for key in later.deletions:
            self.delete(key)

    def lookup(self, key: str) -> Any:
        """The value this batch writes under ``key`` (``None`` if it deletes it), else ``_ABSENT``."""
        if key in self.puts:
            return self.puts[key]
        return None if key in self.deletions else _ABSENT

    def store(self, put_state: Callable[[str, str], None]) -> None:
        """Every put in order, then every deletion (Pulsar's Python Context deletes by storing ``""``)."""
        for key, value in self.puts.items():
            put_state(key, value)
        for key in self.deletions:
            put_state(key, "")


class WriteBehindState:
    """``put_state``/``get_state``/``delete_state`` over ``context``, stored by a background writer.

    ``seam`` runs the writer (:mod:`~streamloop.worker.seam`); without one, :meth:`step` is only called
    by its caller (tests, doctests). ``on_failure`` is called for each failed write (before its retry).
    """

    def __init__(
        self,
        context: Any,
        seam: Seam | None = None,
        name: str = "state",
        on_failure: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self._on_failure = on_failure
        self._context = context
        self._seam = seam
        self._open = Batch()
        self._held: list[Releasable] = []
        self._committed = Batch()
        self._committed_held: list[Releasable] = []
        self._writing: Batch | None = None  # being stored by the writer, retried until it succeeds
        self._writing_held: list[Releasable] = []
        self._changed = threading.Condition()
        self._writer: Any = None

    # -- the context's state API -----------------------------------------------------------------------
    def put_state(self, key: str, value: str) -> None:
        self._open.put(key, value)

    def delete_state(self, key: str) -> None:
        """Delete ``key``, after every put of the batch it is stored with."""
        self._open.delete(key)

    def get_state(self, key: str) -> bytes | None:
        value = self._open.lookup(key)
        if value is _ABSENT:
            with self._changed:
                value = self._committed.lookup(key)
                if value is _ABSENT and self._writing is not None:
                    value = self._writing.lookup(key)
        if value is _ABSENT:
            return self._context.get_state(key)
        return None if value is None else value.encode("utf-8")

    # -- hold until saved ------------------------------------------------------------------------------
    def hold(self, delivery: Any) -> None:
        """Keep ``delivery`` unacked until everything put so far is stored (after the next commit)."""
        delivery.hold()
        self._held.append(delivery)

    def hand_over(self, deliveries: list[Releasable]) -> None:
        """Release each of ``deliveries`` (each held by its caller) once everything put so far is stored."""
        self._held += deliveries

    @property
    def holding(self) -> tuple[Any, ...]:
        """The inputs held for the open batch (acked once it is stored)."""
        return tuple(self._held)

    @property
    def held(self) -> int:
        """How many inputs are held for the open batch: ``len(holding)`` without the copy."""
        return len(self._held)

    def commit(self) -> None:
        """Hand the open batch and the inputs held for it to the writer; returns at once."""
        if not self._open and not self._held:
            return
        with self._changed:
            self._committed.merge(self._open)
            self._committed_held += self._held
            self._changed.notify_all()
        self._open, self._held = Batch(), []
        if self._writer is None and self._seam is not None:
            self._writer = self._seam.run_behind(self)

    # -- the writer ------------------------------------------------------------------------------------
    def step(self, timeout: float) -> bool:
        """Store what was committed (waiting up to ``timeout`` s for some), then release its inputs.

        ``False`` if nothing was committed; raises what ``put_state`` raises, keeping the batch to retry.
        """
        if timeout <= 0 and self._writing is None and not self._committed_held and not self._committed:
            return False  # polled (the embedded seam, after every message) with nothing to do: no lock taken
        with self._changed:
            if self._writing is None:
                if not self._committed and not self._committed_held:
                    self._changed.wait(timeout)
                    if not self._committed and not self._committed_held:
                        return False
                self._writing, self._committed = self._committed, Batch()
                self._writing_held, self._committed_held = self._committed_held, []
            batch = self._writing
        try:
            batch.store(self._context.put_state)
        except Exception:
            if self._on_failure is not None:
                self._on_failure()
            raise
        with self._changed:
            self._writing = None
            held, self._writing_held = self._writing_held, []
        for delivery in held:
            delivery.release()
        return True
