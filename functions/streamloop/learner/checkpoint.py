"""HMAC-signed checkpoints in Pulsar function state: a pickle is only loaded after its signature checks out.

A checkpoint is ``MAGIC + HMAC-SHA256(key, MAGIC + pickle) + pickle``, base64-encoded (``put_state`` takes
``str``) and split into chunks of at most ``chunk_chars`` characters under ``<key>/<slot>/<i>``. A small JSON
manifest under ``<key>`` names the slot and chunk count, and is written last: the two slots alternate, so a
crash mid-save leaves the previous checkpoint whole.

A :class:`Segment` inside the state (an immutable run of strings, such as a batch of learned ids) is not
pickled: it is stored once, as a JSON list under ``<key>/segment/<name>``, and the pickle keeps only its
name and SHA-256. So a checkpoint costs what changed since the last one, not the size of every id window
it carries. A segment is read back only while unpickling a payload whose HMAC already checked out, and
only if its digest matches; it is JSON, never unpickled.

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
import io
import json
import pickle
from collections.abc import Callable
from typing import Any

import orjson

MAGIC = b"streamloop-checkpoint-v1\n"
DIGEST_SIZE = hashlib.sha256().digest_size
CHUNK_CHARS = 1_000_000  # below BookKeeper's default 1 MiB entry size once the key is added


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
        self._segments: set[str] = set()  # segments stored and referenced by the current checkpoint

    def _get(self, key: str, encoding: str = "ascii") -> str | None:
        value = self.context.get_state(key)
        if value is None or value == b"" or value == "":
            return None
        return value.decode(encoding) if isinstance(value, bytes) else str(value)

    def _segment_key(self, name: str) -> str:
        return f"{self.key}/segment/{name}"

    def save(self, state: Any) -> int:
        """Store ``state`` (and its new segments); returns the checkpoint's size in bytes once encoded."""
        referenced: set[str] = set()

        def persistent_id(obj: Any) -> tuple[str, str, str] | None:
            if type(obj) is not Segment:
                return None
            if obj.name not in self._segments and obj.name not in referenced:
                self.context.put_state(self._segment_key(obj.name), obj.encode())
            referenced.add(obj.name)
            return ("segment", obj.name, obj.digest)

        text = base64.b64encode(seal(state, self.secret, persistent_id)).decode("ascii")
        if self._slot is None:
            manifest = self._manifest()
            self._slot = manifest["slot"] if manifest else 1
        slot = 1 - self._slot
        chunks = [text[i : i + self.chunk_chars] for i in range(0, len(text), self.chunk_chars)] or [""]
        for i, chunk in enumerate(chunks):
            self.context.put_state(f"{self.key}/{slot}/{i}", chunk)
        self.context.put_state(self.key, json.dumps({"format": 1, "slot": slot, "chunks": len(chunks)}))
        self._slot = slot
        for name in self._segments - referenced:  # no checkpoint refers to them any more
            self.context.put_state(self._segment_key(name), "")
        self._segments = referenced
        return len(text)

    def _load_segment(self, pid: Any) -> Segment:
        """A segment named in an authenticated pickle, checked against the digest stored there."""
        kind, name, digest = pid
        if kind != "segment":
            raise CheckpointError(f"checkpoint {self.key!r}: unknown reference {kind!r}")
        text = self._get(self._segment_key(name), "utf-8")
        if text is None:
            raise CheckpointError(f"checkpoint {self.key!r}: segment {name} is missing")
        if not hmac.compare_digest(hashlib.sha256(text.encode()).hexdigest(), digest):
            raise CheckpointError(f"checkpoint {self.key!r}: segment {name} does not match its digest")
        records = orjson.loads(text)
        self._segments.add(name)
        return Segment(name, tuple(records), digest)

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
        self._segments = set()
        return unseal(blob, self.secret, f"checkpoint {self.key!r}", self._load_segment)
