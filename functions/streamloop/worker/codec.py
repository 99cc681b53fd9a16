"""Message payloads: JSON objects in and out (orjson), raw bytes through Pulsar's SerDe hook.

The record shapes on each topic are in :mod:`streamloop.worker.messages`.

>>> decode_object(b'{"id": "e1", "amount": 3.5}')
{'id': 'e1', 'amount': 3.5}
>>> encode({"id": "e1", "x": {"a": 1.0}})
b'{"id":"e1","x":{"a":1.0}}'
>>> decode_object(b'[1, 2]')
Traceback (most recent call last):
...
streamloop.worker.codec.BadMessage: payload: expected a JSON object, got list
>>> decode_object(b'{"id": "e1", "amount": NaN}')
Traceback (most recent call last):
...
streamloop.worker.codec.BadMessage: amount: expected a finite number, got nan
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson


class BadMessage(ValueError):
    """An input that can never be processed; it goes to the dead-letter topic with this reason."""


class RawBytes:
    """Pulsar SerDe that hands the payload over untouched.

    Pulsar's default ``IdentitySerDe`` turns ``b"007"`` into the int 7 and JSON into ``str``; every
    streamloop input sets ``serdeClassName: streamloop.worker.codec.RawBytes`` so ``process`` sees bytes.

    >>> RawBytes().deserialize(b"007")
    b'007'
    """

    def serialize(self, input: bytes) -> bytes:
        return bytes(input)

    def deserialize(self, input_bytes: bytes) -> bytes:
        return bytes(input_bytes)


def finite_number(value: Any, field: str) -> float:
    """A finite int or float (never a bool) as a float: the one number check of every message field.

    >>> finite_number(2, "amount"), finite_number(2.5, "amount")
    (2.0, 2.5)
    >>> finite_number(True, "amount")
    Traceback (most recent call last):
    ...
    streamloop.worker.codec.BadMessage: amount: expected a finite number, got bool
    >>> finite_number(float("inf"), "x.a")
    Traceback (most recent call last):
    ...
    streamloop.worker.codec.BadMessage: x.a: expected a finite number, got inf
    """
    kind = type(value)
    if kind is float:
        if math.isfinite(value):
            return value
        raise BadMessage(f"{field}: expected a finite number, got {value!r}")
    if kind is int:
        return float(value)
    raise BadMessage(f"{field}: expected a finite number, got {kind.__name__}")


def decode_object(payload: bytes) -> dict[str, Any]:
    """Decode a JSON object, raising ``BadMessage`` for anything else."""
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        reason = _non_finite_field(payload) or f"payload: invalid JSON ({error})"
        raise BadMessage(reason) from None
    if not isinstance(value, dict):
        raise BadMessage(f"payload: expected a JSON object, got {type(value).__name__}")
    return value


def _non_finite_field(payload: bytes) -> str | None:
    """Name the top-level field holding a ``NaN``/``Infinity`` literal (or an overflowing number).

    orjson rejects those (they are not JSON, yet Python's ``json.dumps`` writes them), which would leave a
    bare "invalid JSON" reason; ``None`` when that is not why the payload failed.
    """
    try:
        lenient = json.loads(payload)
    except ValueError:
        return None
    if isinstance(lenient, dict):
        for name, value in lenient.items():
            if isinstance(value, float):
                try:
                    finite_number(value, name)
                except BadMessage as error:
                    return str(error)
    return None


def encode(value: Any) -> bytes:
    """Encode to compact JSON bytes (non-finite floats become ``null``, as JSON has none)."""
    return orjson.dumps(value)
