"""Message payloads: JSON objects in and out (orjson), raw bytes through Pulsar's SerDe hook.

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
            if isinstance(value, float) and not math.isfinite(value):
                return f"{name}: expected a finite number, got {value!r}"
    return None


def encode(value: Any) -> bytes:
    """Encode to compact JSON bytes (non-finite floats become ``null``, as JSON has none)."""
    return orjson.dumps(value)


def require_id(record: dict[str, Any], field: str = "id") -> str:
    """Return the record's id as a non-empty string.

    >>> require_id({"id": 7})
    '7'
    >>> require_id({"id": ""})
    Traceback (most recent call last):
    ...
    streamloop.worker.codec.BadMessage: id: missing or empty
    """
    value = record.get(field)
    if value is None or value == "" or isinstance(value, (dict, list, bool)):
        if isinstance(value, (dict, list, bool)):
            raise BadMessage(f"{field}: expected a string or integer, got {type(value).__name__}")
        raise BadMessage(f"{field}: missing or empty")
    if isinstance(value, float):
        raise BadMessage(f"{field}: expected a string or integer, got float")
    return str(value)


def require_features(record: dict[str, Any], field: str = "x") -> dict[str, float]:
    """Return the record's feature dict, checking every value is a finite number.

    >>> require_features({"x": {"a": 1, "b": 2.5}})
    {'a': 1.0, 'b': 2.5}
    >>> require_features({"x": {"a": "1"}})
    Traceback (most recent call last):
    ...
    streamloop.worker.codec.BadMessage: x.a: expected a finite number, got str
    """
    x = record.get(field)
    if not isinstance(x, dict):
        raise BadMessage(f"{field}: expected an object of feature values, got {type(x).__name__}")
    out: dict[str, float] = {}
    for name, value in x.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            kind = type(value).__name__ if not isinstance(value, float) else "non-finite float"
            raise BadMessage(f"{field}.{name}: expected a finite number, got {kind}")
        out[name] = float(value)
    return out
