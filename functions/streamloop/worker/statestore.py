"""One text value of any size in Pulsar function state, replaced atomically.

Pulsar's state API stores ``str`` values of bounded size (one BookKeeper entry), and a process can die
between two ``put_state`` calls. :class:`ChunkedState` splits a value into chunks of at most
``chunk_chars`` under ``<key>/<slot>/<i>`` and writes a small JSON manifest under ``<key>`` last. Two
slots alternate, so a crash mid-write leaves the previous value whole. One writer per key: the learner
(one instance) and each scorer instance (its own key) write their own.

>>> class Memory(dict):
...     def put_state(self, key, value): self[key] = value
...     def get_state(self, key): return self[key].encode() if key in self else None
>>> state = Memory()
>>> ChunkedState(state, "blob", chunk_chars=4).put("abcdefghij")
3
>>> sorted(state)
['blob', 'blob/0/0', 'blob/0/1', 'blob/0/2']
>>> ChunkedState(state, "blob").get()
'abcdefghij'
>>> ChunkedState(state, "nothing here").get() is None
True
"""

from __future__ import annotations

import json
from typing import Any

CHUNK_CHARS = 1_000_000  # below BookKeeper's default 1 MiB entry size once the key is added


class StateError(RuntimeError):
    """A stored value that is incomplete or malformed."""


class ChunkedState:
    """Read and replace the value under ``key`` in a Pulsar ``context``'s state.

    ``context`` is anything with Pulsar's ``put_state(key, str)`` and ``get_state(key) -> bytes | None``;
    ``name`` prefixes error messages.
    """

    def __init__(
        self, context: Any, key: str, chunk_chars: int = CHUNK_CHARS, name: str | None = None
    ) -> None:
        self.context = context
        self.key = key
        self.chunk_chars = chunk_chars
        self.name = name or f"state {key!r}"
        self._slot: int | None = None  # the slot the manifest points at, once read or written

    def _get(self, key: str) -> str | None:
        value = self.context.get_state(key)
        if value is None or value == b"" or value == "":
            return None
        return value.decode("ascii") if isinstance(value, bytes) else str(value)

    def put(self, text: str) -> int:
        """Replace the value with ``text`` (ASCII); returns the number of chunks written."""
        if self._slot is None:
            manifest = self._manifest()
            self._slot = manifest["slot"] if manifest else 1
        slot = 1 - self._slot
        chunks = [text[i : i + self.chunk_chars] for i in range(0, len(text), self.chunk_chars)] or [""]
        for i, chunk in enumerate(chunks):
            self.context.put_state(f"{self.key}/{slot}/{i}", chunk)
        self.context.put_state(self.key, json.dumps({"format": 1, "slot": slot, "chunks": len(chunks)}))
        self._slot = slot
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
        if manifest.get("format") != 1 or slot not in (0, 1) or not isinstance(chunks, int) or chunks < 1:
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
        if manifest is None:
            return None
        self._slot = manifest["slot"]
        parts = []
        for i in range(manifest["chunks"]):
            chunk = self._get(f"{self.key}/{manifest['slot']}/{i}")
            if chunk is None:
                raise StateError(f"{self.name}: chunk {i} of {manifest['chunks']} is missing")
            parts.append(chunk)
        return "".join(parts)
