"""Per-key window state in memory, saved to Pulsar function state before the inputs it covers are acked.

Keys are read from function state the first time an instance sees them (so after a restart, or when
Key_Shared hands a key over from another instance, the key continues where it was saved). Updates are
batched: each updated key is marked dirty and its input held; ``flush`` puts every dirty key into the
function's :class:`~streamloop.worker.writebehind.WriteBehindState` and hands it the held inputs, so its
writer stores the keys and only then releases those inputs (a commit of other state in between, such as
the fused function's serving model, acks none of them), while ``process()`` goes on with the next events. A
crash loses at most unsaved batches, whose inputs were never acked, so Pulsar redelivers them and they
are recomputed from the saved state (a redelivered event already in the saved log is not counted twice).

Which keys an instance may keep depends on whether it is the function's only instance:

- **alone** (``parallelism: 1``), no other instance ever writes its keys: a key stays cached until it has
  been idle for ``cache_seconds``; the cache holds at most ``max_keys`` keys, the least recently seen
  dropped first. Either way a key with updates not yet stored stays (the stored value lacks them);
- **shared** (more instances, Key_Shared): a key moves to another instance whenever consumers join or
  leave (an instance's restart, a worker's death, every consumer reconnecting after a broker's), and
  nothing tells the instance it lost the key; it may come back later with the other instance's updates
  saved. Pulsar's Key_Shared dispatcher hands a key to another consumer only once the messages of that key
  already sent to this one are acked, and they are acked only once the write covering them is stored. So
  a shared cache trusts a key's copy only while it has updates not yet stored; once they are, its next
  event reads it from function state, and sees whatever another instance saved meanwhile. That costs one
  ``get_state`` per key per write (every ``flush_every`` events or ``flush_seconds``).

When the store cannot answer, events go on from the copies in memory: while it is down nothing is stored,
so every updated key's copy stays trusted; and when a read fails for a key with a copy, that copy is used
and no read is tried for ``flush_seconds`` (each failed read has already waited through the store client's
retries). Raising there instead would leave that event for redelivery, and Key_Shared's order does not
hold for redeliveries: the key's later events would be counted before it. So a key with no copy in memory
waits for the store: its read is tried again in place, backing off as the seam's jobs do (0.5 s up to
10 s), until it answers, and every later input waits behind it (found by the cluster's bookie-kill test,
where leaving such an event for redelivery let the key's next ones be counted first). Only a stored value
that cannot be read back (:class:`~streamloop.worker.statestore.StateError`) raises.

A key's state is one value, ``window:<key>`` (``%`` and ``/`` in the key escaped as ``%25`` and ``%2F``),
bounded in time and count (:mod:`~streamloop.worker.features.state`). A value longer than one state value
may be (``chunk_chars``, below the table service's ~1 MiB) is written as a
:class:`~streamloop.worker.statestore.ChunkedState` under ``window:<key>/parts`` and ``window:<key>``
holds ``chunked``; no escaped key contains ``/``, so no key's value is another key's chunk.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from time import sleep
from typing import TYPE_CHECKING

from streamloop.worker.features.state import KeyState, WindowLayout
from streamloop.worker.seam import retry_delay
from streamloop.worker.statestore import CHUNK_CHARS, ChunkedState, StateError
from streamloop.worker.writebehind import WriteBehindState

if TYPE_CHECKING:
    from streamloop.worker.features.config import FeaturesConfig
    from streamloop.worker.function import Delivery

log = logging.getLogger("streamloop.worker.features")

STATE_PREFIX = "window:"
CHUNKED = "chunked"  # the value of a key whose state is in chunks under ``<state key>/parts``


def state_key(key: str) -> str:
    """Where an entity key's window state is stored; never contains ``/``.

    >>> state_key("u1"), state_key("a/b%c")
    ('window:u1', 'window:a%2Fb%25c')
    """
    return STATE_PREFIX + key.replace("%", "%25").replace("/", "%2F")


class StateCache:
    """The window state of the keys one instance serves, over the function's state."""

    def __init__(
        self,
        state: WriteBehindState,
        layout: WindowLayout,
        *,
        flush_every: int,
        flush_seconds: float,
        cache_seconds: float,
        max_keys: int,
        now: float,
        shared: bool,
        chunk_chars: int = CHUNK_CHARS,
    ) -> None:
        self._state = state
        self._shared = shared
        self._chunk_chars = chunk_chars
        self._layout = layout
        self._flush_every = flush_every
        self._flush_seconds = flush_seconds
        self._cache_seconds = cache_seconds
        self._max_keys = max_keys
        self._keys: OrderedDict[str, tuple[KeyState, float]] = OrderedDict()  # least recently seen first
        self._dirty: dict[str, KeyState] = {}
        self._waiting: list[Delivery] = []  # the inputs of the dirty keys' updates, held until flushed
        self._last_flush = now
        self._writes = 0  # flushes so far, the last one stored, and each key's last one if not known stored
        self._stored = 0
        self._written: dict[str, int] = {}
        self._unreadable_until = 0.0  # after a failed read, copies in memory are used without reading

    @classmethod
    def configured(
        cls, state: WriteBehindState, layout: WindowLayout, config: FeaturesConfig, now: float, shared: bool
    ) -> StateCache:
        """The cache with the features function's ``state_*`` settings; ``shared`` if the function may run
        more than one instance."""
        return cls(
            state,
            layout,
            flush_every=config.state_flush_every,
            flush_seconds=config.state_flush_seconds,
            cache_seconds=config.state_cache_seconds,
            max_keys=config.state_cache_keys,
            now=now,
            shared=shared,
        )

    def get(self, key: str, now: float) -> KeyState:
        """The key's state: from memory, else from function state, else empty.

        With no copy in memory a failed read is tried again until the store answers; with one, a failed
        read goes on from the copy (see the module's docstring).
        """
        cached = self._keys.get(key)
        if cached is None:
            state = self._load_waiting(key)
        elif self._kept(key, now - cached[1]) or now < self._unreadable_until:
            state = cached[0]
        else:
            try:
                state = self._load(key)
            except Exception as error:  # the store's own client has retried already
                self._unreadable_until = now + self._flush_seconds
                log.warning("features: state unreadable (%s); going on from memory for now", error)
                state = cached[0]
        self._keys[key] = (state, now)
        self._keys.move_to_end(key)
        return state

    def _kept(self, key: str, idle: float) -> bool:
        """Whether the copy in memory is still the key's state (see the module's docstring)."""
        if key in self._dirty or self._written.get(key, 0) > self._stored:
            return True  # updates not stored yet: the stored value lacks them, and its inputs are unacked
        return not self._shared and idle <= self._cache_seconds

    def _was_stored(self, write: int) -> None:
        """Called by the state's writer (its thread, on Pulsar) once flush number ``write`` is stored."""
        self._stored = max(self._stored, write)

    def _parts(self, key: str) -> ChunkedState:
        location = state_key(key) + "/parts"
        return ChunkedState(self._state, location, self._chunk_chars, f"window state {key!r}")

    def _load_waiting(self, key: str) -> KeyState:
        """``_load``, tried again after each failure of the store, backing off, until it answers."""
        failures = 0
        while True:
            try:
                return self._load(key)
            except StateError:
                raise
            except Exception as error:  # the store's own client has retried already
                delay = retry_delay(failures)
                log.warning("features: state of %r unreadable (%s); again in %.1f s", key, error, delay)
                failures += 1
                sleep(delay)

    def _load(self, key: str) -> KeyState:
        saved: bytes | str | None = self._state.get_state(state_key(key))
        if saved == CHUNKED.encode():
            saved = self._parts(key).get()
        if not saved:
            return self._layout.new_state()
        try:
            return KeyState.from_json(self._layout, saved)
        except ValueError as error:  # the config changed the aggregated fields since it was saved
            log.warning("features: starting key %r afresh: %s", key, error)
            return self._layout.new_state()

    def updated(self, key: str, state: KeyState, delivery: Delivery) -> None:
        """Mark ``key`` for saving, ``delivery`` (the input that updated it) held until it is saved."""
        self._dirty[key] = state
        delivery.hold()
        self._waiting.append(delivery)

    def due(self, now: float) -> bool:
        held = len(self._waiting)
        return bool(held) and (held >= self._flush_every or now - self._last_flush >= self._flush_seconds)

    def flush(self, now: float) -> int:
        """Put every updated key into the function's state, handing it their held inputs (released once
        it is stored, after the function's next commit); returns the keys put."""
        saved = len(self._dirty)
        for key, state in self._dirty.items():
            text = state.to_json()
            if len(text) > self._chunk_chars:  # chunks first, the pointer last: a crash keeps the old value
                self._parts(key).put(text)
                text = CHUNKED
            self._state.put_state(state_key(key), text)
        stored, write = self._stored, self._writes + 1
        self._writes = write
        for key in [k for k, w in self._written.items() if w <= stored]:
            del self._written[key]
        self._written.update(dict.fromkeys(self._dirty, write))
        self._dirty.clear()
        # The marker first: the writer releases it before the inputs, so before any of them is acked.
        self._state.hand_over([_Stored(self, write), *self._waiting])
        self._waiting = []
        self._last_flush = now
        while self._keys and (
            len(self._keys) > self._max_keys or now - next(iter(self._keys.values()))[1] > self._cache_seconds
        ):
            if next(iter(self._keys)) in self._written:
                break  # the least recently seen key's write is not stored yet: keep it until it is
            self._keys.popitem(last=False)
        return saved


class _Stored:
    """Handed to the state's writer with a flush's inputs: tells the cache once that flush is stored."""

    __slots__ = ("_cache", "_write")

    def __init__(self, cache: StateCache, write: int) -> None:
        self._cache, self._write = cache, write

    def release(self) -> None:
        self._cache._was_stored(self._write)
