"""HMAC-signed checkpoints in Pulsar function state: a pickle is only loaded after its signature checks out.

A checkpoint is ``MAGIC + HMAC-SHA256(key, MAGIC + pickle) + pickle``, base64-encoded (``put_state`` takes
``str``) and split into chunks of at most ``chunk_chars`` characters under ``<key>/<slot>/<i>``. A small JSON
manifest under ``<key>`` names the slot and chunk count, and is written last: the two slots alternate, so a
crash mid-save leaves the previous checkpoint whole.

>>> class Memory(dict):
...     def put_state(self, key, value): self[key] = value
...     def get_state(self, key): return self[key].encode() if key in self else None
>>> state = Memory()
>>> store = CheckpointStore(state, "learner", b"secret")
>>> store.save({"weights": [1.0, 2.0]}) > 0
True
>>> store.load()
{'weights': [1.0, 2.0]}
>>> CheckpointStore(state, "learner", b"other key").load()
Traceback (most recent call last):
...
streamloop.learner.checkpoint.CheckpointError: checkpoint 'learner': HMAC mismatch (wrong ... unpickle it
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import pickle
from typing import Any

MAGIC = b"streamloop-checkpoint-v1\n"
DIGEST_SIZE = hashlib.sha256().digest_size
CHUNK_CHARS = 1_000_000  # below BookKeeper's default 1 MiB entry size once the key is added


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be trusted or read; it is never unpickled."""


def seal(state: Any, key: bytes) -> bytes:
    """Pickle ``state`` and prefix it with the magic and its HMAC-SHA256 under ``key``."""
    payload = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    return MAGIC + hmac.new(key, MAGIC + payload, hashlib.sha256).digest() + payload


def unseal(blob: bytes, key: bytes, name: str = "checkpoint") -> Any:
    """Check ``blob``'s HMAC with ``key`` (constant time) and only then unpickle it."""
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + DIGEST_SIZE:
        raise CheckpointError(f"{name}: not a streamloop checkpoint (bad header); refusing to unpickle it")
    mac, payload = blob[len(MAGIC) : len(MAGIC) + DIGEST_SIZE], blob[len(MAGIC) + DIGEST_SIZE :]
    if not hmac.compare_digest(mac, hmac.new(key, MAGIC + payload, hashlib.sha256).digest()):
        raise CheckpointError(
            f"{name}: HMAC mismatch (wrong checkpoint_hmac_key, or tampered); refusing to unpickle it"
        )
    return pickle.loads(payload)  # authenticated above: written by this function with this key


class CheckpointStore:
    """Save and load one signed checkpoint under ``key`` in a Pulsar ``context``'s state.

    Parameters
    ----------
    context
        Anything with Pulsar's ``put_state(key, str)`` and ``get_state(key) -> bytes | None``.
    key
        The state key of the manifest; chunks live under ``<key>/<slot>/<i>``.
    secret
        The HMAC key (the function's ``checkpoint_hmac_key`` secret).
    chunk_chars
        Largest state value written.
    """

    def __init__(self, context: Any, key: str, secret: bytes, chunk_chars: int = CHUNK_CHARS) -> None:
        if not secret:
            raise ValueError("an empty HMAC key would sign nothing")
        self.context = context
        self.key = key
        self.secret = secret
        self.chunk_chars = chunk_chars
        self._slot: int | None = None  # the slot the manifest points at, once read or written

    def _get(self, key: str) -> str | None:
        value = self.context.get_state(key)
        if value is None or value == b"" or value == "":
            return None
        return value.decode("ascii") if isinstance(value, bytes) else str(value)

    def save(self, state: Any) -> int:
        """Store ``state``; returns the checkpoint's size in bytes once encoded."""
        text = base64.b64encode(seal(state, self.secret)).decode("ascii")
        if self._slot is None:
            manifest = self._manifest()
            self._slot = manifest["slot"] if manifest else 1
        slot = 1 - self._slot
        chunks = [text[i : i + self.chunk_chars] for i in range(0, len(text), self.chunk_chars)] or [""]
        for i, chunk in enumerate(chunks):
            self.context.put_state(f"{self.key}/{slot}/{i}", chunk)
        self.context.put_state(self.key, json.dumps({"format": 1, "slot": slot, "chunks": len(chunks)}))
        self._slot = slot
        return len(text)

    def _manifest(self) -> dict[str, int] | None:
        raw = self._get(self.key)
        if raw is None:
            return None
        try:
            manifest = json.loads(raw)
            slot, chunks = manifest["slot"], manifest["chunks"]
        except (ValueError, TypeError, KeyError):
            raise CheckpointError(f"checkpoint {self.key!r}: malformed manifest {raw[:200]!r}") from None
        if manifest.get("format") != 1 or slot not in (0, 1) or not isinstance(chunks, int) or chunks < 1:
            raise CheckpointError(f"checkpoint {self.key!r}: unsupported manifest {raw[:200]!r}")
        return {"slot": slot, "chunks": chunks}

    def load(self) -> Any | None:
        """The stored state, or ``None`` when there is no checkpoint yet.

        Raises
        ------
        CheckpointError
            The checkpoint is incomplete, malformed, or its HMAC does not match; it is not unpickled.
        """
        manifest = self._manifest()
        if manifest is None:
            return None
        self._slot = manifest["slot"]
        parts = []
        for i in range(manifest["chunks"]):
            chunk = self._get(f"{self.key}/{manifest['slot']}/{i}")
            if chunk is None:
                raise CheckpointError(
                    f"checkpoint {self.key!r}: chunk {i} of {manifest['chunks']} is missing"
                )
            parts.append(chunk)
        try:
            blob = base64.b64decode("".join(parts), validate=True)
        except (binascii.Error, ValueError):
            raise CheckpointError(f"checkpoint {self.key!r}: not valid base64") from None
        return unseal(blob, self.secret, f"checkpoint {self.key!r}")
