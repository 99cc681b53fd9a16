"""HMAC-signed checkpoints in Pulsar function state: a pickle is only loaded after its signature checks out.

A checkpoint is ``MAGIC + HMAC-SHA256(key, MAGIC + pickle) + pickle``, base64-encoded (``put_state`` takes
``str``) and stored with :class:`~streamloop.statestore.ChunkedState` (chunks, two alternating slots,
manifest written last: a crash mid-save leaves the previous checkpoint whole).

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
import pickle
from typing import Any

from streamloop.statestore import CHUNK_CHARS, ChunkedState, StateError

MAGIC = b"streamloop-checkpoint-v1\n"
DIGEST_SIZE = hashlib.sha256().digest_size


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
        The state key of the manifest (:class:`~streamloop.statestore.ChunkedState`).
    secret
        The HMAC key (the function's ``checkpoint_hmac_key`` secret).
    chunk_chars
        Largest state value written.
    """

    def __init__(self, context: Any, key: str, secret: bytes, chunk_chars: int = CHUNK_CHARS) -> None:
        if not secret:
            raise ValueError("an empty HMAC key would sign nothing")
        self.secret = secret
        self.name = f"checkpoint {key!r}"
        self._stored = ChunkedState(context, key, chunk_chars, name=self.name)

    def save(self, state: Any) -> int:
        """Store ``state``; returns the checkpoint's size in bytes once encoded."""
        text = base64.b64encode(seal(state, self.secret)).decode("ascii")
        self._stored.put(text)
        return len(text)

    def load(self) -> Any | None:
        """The stored state, or ``None`` when there is no checkpoint yet.

        Raises
        ------
        CheckpointError
            The checkpoint is incomplete, malformed, or its HMAC does not match; it is not unpickled.
        """
        try:
            text = self._stored.get()
        except StateError as error:
            raise CheckpointError(str(error)) from None
        if text is None:
            return None
        try:
            blob = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise CheckpointError(f"{self.name}: not valid base64") from None
        return unseal(blob, self.secret, self.name)
