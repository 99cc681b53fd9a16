"""Per-key window state in memory, saved to Pulsar function state before the inputs it covers are acked.

Keys are read from function state the first time an instance sees them (so after a restart, or when
Key_Shared hands a key over from another instance, the key continues where it was saved). Updates are
batched: each updated key is marked dirty (and the function holds its input until saved); ``flush`` puts
every dirty key into the function's :class:`~streamloop.worker.writebehind.WriteBehindState`, whose writer
stores it and only then releases the held inputs, while ``process()`` goes on with the next events. A
crash loses at most unsaved batches, whose inputs were never acked, so Pulsar redelivers them and they
are recomputed from the saved state (a redelivered event already in the saved log is not counted twice).

A key that stays idle for ``cache_seconds`` is read again from function state on its next event: under
Key_Shared a key moves between instances only when consumers join or leave, and another instance may have
updated it meanwhile. The cache holds at most ``max_keys`` keys, the least recently seen dropped first.

A key's state is one value, ``window:<key>`` (``%`` and ``/`` in the key escaped as ``%25`` and ``%2F``),
bounded in time and count (:mod:`~streamloop.worker.features.state`). A value longer than one state value
may be (``chunk_chars``, below the table service's ~1 MiB) is written as a
:class:`~streamloop.worker.statestore.ChunkedState` under ``window:<key>/parts`` and ``window:<key>``
holds ``chunked``; no escaped key contains ``/``, so no key's value is another key's chunk.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from streamloop.worker.features.state import KeyState, WindowLayout
from streamloop.worker.statestore import CHUNK_CHARS, ChunkedState
from streamloop.worker.writebehind import WriteBehindState

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
        chunk_chars: int = CHUNK_CHARS,
    ) -> None:
        self._state = state
        self._chunk_chars = chunk_chars
        self._layout = layout
        self._flush_every = flush_every
        self._flush_seconds = flush_seconds
        self._cache_seconds = cache_seconds
        self._max_keys = max_keys
        self._keys: OrderedDict[str, tuple[KeyState, float]] = OrderedDict()  # least recently seen first
        self._dirty: dict[str, KeyState] = {}
        self._last_flush = now

    def get(self, key: str, now: float) -> KeyState:
        """The key's state: from memory, else from function state, else empty."""
        cached = self._keys.get(key)
        if cached is not None and (key in self._dirty or now - cached[1] <= self._cache_seconds):
            state = cached[0]
        else:
            state = self._load(key)
        self._keys[key] = (state, now)
        self._keys.move_to_end(key)
        return state

    def _parts(self, key: str) -> ChunkedState:
        location = state_key(key) + "/parts"
        return ChunkedState(self._state, location, self._chunk_chars, f"window state {key!r}")

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

    def updated(self, key: str, state: KeyState) -> None:
        """Mark ``key`` for saving."""
        self._dirty[key] = state

    def due(self, now: float) -> bool:
        held = len(self._state.holding)
        return bool(held) and (held >= self._flush_every or now - self._last_flush >= self._flush_seconds)

    def flush(self, now: float) -> int:
        """Put every updated key into the function's state (saved with it); returns the keys put."""
        saved = len(self._dirty)
        for key, state in self._dirty.items():
            text = state.to_json()
            if len(text) > self._chunk_chars:  # chunks first, the pointer last: a crash keeps the old value
                self._parts(key).put(text)
                text = CHUNKED
            self._state.put_state(state_key(key), text)
        self._dirty.clear()
        self._last_flush = now
        while self._keys and (
            len(self._keys) > self._max_keys or now - next(iter(self._keys.values()))[1] > self._cache_seconds
        ):
            self._keys.popitem(last=False)
        return saved
