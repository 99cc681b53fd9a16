"""One text value of any size in Pulsar function state, replaced so that a crash anywhere leaves one whole.

Pulsar's state API stores ``str`` values of bounded size (one BookKeeper entry), and a process can die
between two ``put_state`` calls. :class:`ChunkedState` splits a value into chunks of at most
``chunk_chars`` under ``<key>/<slot>/<i>``, writes a small JSON manifest under ``<key>`` after them, and
only then deletes the previous slot's chunks. Slots count up and are never reused, so no write touches
what the stored manifest points at: whatever prefix of the writes a crash leaves, the manifest points at
whole chunks (also when :class:`~streamloop.worker.writebehind.WriteBehindState` merges several values
into one write). One writer per key: the learner (one instance) and each scorer instance (its own key).

>>> class Memory(dict):
...     def put_state(self, key, value): self[key] = value
...     def delete_state(self, key): self.pop(key, None)
...     def get_state(self, key): return self[key].encode() if key in self else None
>>> state = Memory()
>>> ChunkedState(state, "blob", chunk_chars=4).put("abcdefghij")
3
>>> sorted(state)
['blob', 'blob/0/0', 'blob/0/1', 'blob/0/2']
>>> ChunkedState(state, "blob").put("klm")
1
>>> sorted(state), ChunkedState(state, "blob").get()
(['blob', 'blob/1/0'], 'klm')
>>> ChunkedState(state, "nothing here").get() is None
True
"""

from __future__ import annotations

import json
from typing import Protocol

CHUNK_CHARS = 1_000_000  # below BookKeeper's default 1 MiB entry size once the key is added


class State(Protocol):
    """Function state: Pulsar's ``put_state``/``get_state``, and a deletion."""

    def put_state(self, key: str, value: str) -> None: ...

    def get_state(self, key: str) -> bytes | None: ...

    def delete_state(self, key: str) -> None: ...


class StateError(RuntimeError):
    """A stored value that is incomplete or malformed."""


class ChunkedState:
    """Read and replace the value under ``key`` in ``state``; ``name`` prefixes error messages."""

    def __init__(
        self, state: State, key: str, chunk_chars: int = CHUNK_CHARS, name: str | None = None
    ) -> None:
        self.state = state
        self.key = key
        self.chunk_chars = chunk_chars
        self.name = name or f"state {key!r}"
        self._manifest_read = False
        self._current: dict[str, int] | None = None  # the manifest stored last, once read or written

    def _get(self, key: str) -> str | None:
        value = self.state.get_state(key)
        return value.decode("ascii") if value else None  # b"": deleted

    def put(self, text: str) -> int:
        """Replace the value with ``text`` (ASCII); returns the number of chunks written."""
        if not self._manifest_read:
            self._current = self._manifest()
            self._manifest_read = True
        previous = self._current
        slot = 0 if previous is None else previous["slot"] + 1
        chunks = [text[i : i + self.chunk_chars] for i in range(0, len(text), self.chunk_chars)] or [""]
        for i, chunk in enumerate(chunks):
            self.state.put_state(f"{self.key}/{slot}/{i}", chunk)
        self.state.put_state(self.key, json.dumps({"format": 1, "slot": slot, "chunks": len(chunks)}))
        if previous is not None:
            for i in range(previous["chunks"]):
                self.state.delete_state(f"{self.key}/{previous['slot']}/{i}")
        self._current = {"slot": slot, "chunks": len(chunks)}
        return len(chunks)

    def _manifest(self) -> dict[str, int] | None:
        raw = self._get(self.key)
        if raw is None:
            return None
        try:
            manifest = json.loads(raw)
            slot, chunks = manifest["slot"], manifest["chunks"]
        except (ValueError, TypeError, KeyError):
            raise StateError(f"{self.name}: malformed manifest {raw[:200]!r}") from None
        if (
            manifest.get("format") != 1
            or not isinstance(slot, int)
            or slot < 0
            or not isinstance(chunks, int)
            or chunks < 1
        ):
            raise StateError(f"{self.name}: unsupported manifest {raw[:200]!r}")
        return {"slot": slot, "chunks": chunks}

    def get(self) -> str | None:
        """The stored value, or ``None`` when nothing was stored yet.

        Raises
        ------
        StateError
            The manifest is malformed or a chunk is missing.
        """
        manifest = self._manifest()
        self._current, self._manifest_read = manifest, True
        if manifest is None:
            return None
        parts = []
        for i in range(manifest["chunks"]):
            chunk = self._get(f"{self.key}/{manifest['slot']}/{i}")
            if chunk is None:
                raise StateError(f"{self.name}: chunk {i} of {manifest['chunks']} is missing")
            parts.append(chunk)
        return "".join(parts)
