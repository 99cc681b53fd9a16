"""HMAC-signed checkpoints in Pulsar function state: a pickle is only loaded after its signature checks out.

A checkpoint is ``MAGIC + HMAC-SHA256(key, MAGIC + pickle) + pickle``, base64-encoded (``put_state`` takes
``str``) and stored with :class:`~streamloop.worker.statestore.ChunkedState` (chunks in a new slot, then the
manifest: a crash mid-save leaves the previous checkpoint whole).

A :class:`Segment` inside the state (an immutable run of strings, such as a batch of learned ids) is not
pickled: it is stored once, as a JSON list under ``<key>/segment/<name>``, and the pickle keeps only its
name and SHA-256. So a checkpoint costs what changed since the last one, not the size of every id window
it carries. New segments are put before the manifest that refers to them, and a segment no checkpoint
refers to any more is deleted after it, so a crash after any prefix of those writes leaves a loadable
checkpoint. A segment is read back only while unpickling a payload whose HMAC already checked out, and
only if its digest matches; it is JSON, never unpickled.

>>> class Memory(dict):
...     def put_state(self, key, value): self[key] = value
...     def delete_state(self, key): self.pop(key, None)
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
streamloop.worker.learner.checkpoint.CheckpointError: checkpoint 'learner': HMAC mismatch ...
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import pickle
from collections.abc import Callable
from typing import Any

import orjson

from streamloop.worker.statestore import CHUNK_CHARS, ChunkedState, State, StateError

MAGIC = b"streamloop-checkpoint-v1\n"
DIGEST_SIZE = hashlib.sha256().digest_size


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be trusted or read; it is never unpickled."""


class Segment:
    """An immutable run of strings that a checkpoint stores beside its pickle, once (see the module)."""

    __slots__ = ("_digest", "name", "records")

    def __init__(self, name: str, records: tuple[str, ...], digest: str | None = None) -> None:
        self.name = name
        self.records = records
        self._digest = digest

    def encode(self) -> str:
        return orjson.dumps(self.records).decode()

    @property
    def digest(self) -> str:
        if self._digest is None:
            self._digest = hashlib.sha256(self.encode().encode()).hexdigest()
        return self._digest


def seal(state: Any, key: bytes, persistent_id: Callable[[Any], Any] | None = None) -> bytes:
    """Pickle ``state`` and prefix it with the magic and its HMAC-SHA256 under ``key``."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    if persistent_id is not None:
        pickler.persistent_id = persistent_id  # type: ignore[method-assign]
    pickler.dump(state)
    payload = buffer.getvalue()
    return MAGIC + hmac.new(key, MAGIC + payload, hashlib.sha256).digest() + payload


def unseal(
    blob: bytes,
    key: bytes,
    name: str = "checkpoint",
    persistent_load: Callable[[Any], Any] | None = None,
) -> Any:
    """Check ``blob``'s HMAC with ``key`` (constant time) and only then unpickle it."""
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + DIGEST_SIZE:
        raise CheckpointError(f"{name}: not a streamloop checkpoint (bad header); refusing to unpickle it")
    mac, payload = blob[len(MAGIC) : len(MAGIC) + DIGEST_SIZE], blob[len(MAGIC) + DIGEST_SIZE :]
    if not hmac.compare_digest(mac, hmac.new(key, MAGIC + payload, hashlib.sha256).digest()):
        raise CheckpointError(
            f"{name}: HMAC mismatch (wrong checkpoint_hmac_key, or tampered); refusing to unpickle it"
        )
    unpickler = pickle.Unpickler(io.BytesIO(payload))  # authenticated above: written with this key
    if persistent_load is not None:
        unpickler.persistent_load = persistent_load  # type: ignore[method-assign]
    return unpickler.load()


class CheckpointStore:
    """Save and load one signed checkpoint under ``key`` in a function's state.

    Parameters
    ----------
    state
        The function's state (:class:`~streamloop.worker.statestore.State`).
    key
        The state key of the manifest (:class:`~streamloop.worker.statestore.ChunkedState`); segments live
        under ``<key>/segment/<name>``.
    secret
        The HMAC key (the function's ``checkpoint_hmac_key`` secret).
    chunk_chars
        Largest state value written.
    """

    def __init__(self, state: State, key: str, secret: bytes, chunk_chars: int = CHUNK_CHARS) -> None:
        if not secret:
            raise ValueError("an empty HMAC key would sign nothing")
        self.state = state
        self.key = key
        self.secret = secret
        self.name = f"checkpoint {key!r}"
        self._stored = ChunkedState(state, key, chunk_chars, name=self.name)
        self._segments: set[str] = set()  # segments stored and referenced by the current checkpoint

    def _segment_key(self, name: str) -> str:
        return f"{self.key}/segment/{name}"

    def save(self, state: Any) -> int:
        """Store ``state`` (and its new segments); returns the checkpoint's size in bytes once encoded."""
        referenced: set[str] = set()

        def persistent_id(obj: Any) -> tuple[str, str, str] | None:
            if type(obj) is not Segment:
                return None
            if obj.name not in self._segments and obj.name not in referenced:
                self.state.put_state(self._segment_key(obj.name), obj.encode())
            referenced.add(obj.name)
            return ("segment", obj.name, obj.digest)

        text = base64.b64encode(seal(state, self.secret, persistent_id)).decode("ascii")
        self._stored.put(text)
        for name in sorted(self._segments - referenced):  # no checkpoint refers to them any more
            self.state.delete_state(self._segment_key(name))
        self._segments = referenced
        return len(text)

    def _load_segment(self, pid: Any) -> Segment:
        """A segment named in an authenticated pickle, checked against the digest stored there."""
        kind, name, digest = pid
        if kind != "segment":
            raise CheckpointError(f"{self.name}: unknown reference {kind!r}")
        value = self.state.get_state(self._segment_key(name))
        if not value:
            raise CheckpointError(f"{self.name}: segment {name} is missing")
        text = value.decode("utf-8")
        if not hmac.compare_digest(hashlib.sha256(text.encode()).hexdigest(), digest):
            raise CheckpointError(f"{self.name}: segment {name} does not match its digest")
        records = orjson.loads(text)
        self._segments.add(name)
        return Segment(name, tuple(records), digest)

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
        self._segments = set()
        return unseal(blob, self.secret, self.name, self._load_segment)
