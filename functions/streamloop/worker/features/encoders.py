"""Stateless specs compiled into plain closures: ``encode(record, ts, out)`` sets the spec's features.

``out`` arrives holding every feature of the config at 0.0 (so the order is fixed); an encoder only sets
what is not zero. Compiling once keeps the per-message path free of pydantic and of branching on the spec.

>>> from streamloop.worker.features.spec import parse_spec
>>> encode = compile_encoder(parse_spec({"name": "amount", "kind": "numeric", "field": "amount",
...                                      "transform": "log1p"}))
>>> out = {"amount": 0.0}; encode({"amount": 1.718281828459045}, 0.0, out); out
{'amount': 1.0}
>>> encode({"amount": "3"}, 0.0, out)
Traceback (most recent call last):
...
streamloop.worker.codec.BadMessage: amount: expected a finite number, got str
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from typing import Any

from streamloop.worker.codec import BadMessage, finite_number
from streamloop.worker.features.spec import HashedFeature, NumericFeature, OneHotFeature, Spec
from streamloop.worker.messages import timestamp

Encoder = Callable[[dict[str, Any], float, dict[str, float]], None]


def hour_of_day(ts: float) -> float:
    """UTC hour (0-23) of epoch seconds.

    >>> hour_of_day(1767229200.0)  # 2026-01-01T01:00:00Z
    1.0
    """
    return float(ts // 3600 % 24)


def day_of_week(ts: float) -> float:
    """UTC day of the week, Monday = 0, of epoch seconds (1970-01-01 was a Thursday).

    >>> day_of_week(1767225600.0)  # 2026-01-01, a Thursday
    3.0
    """
    return float((ts // 86400 + 3) % 7)


def stable_bucket(token: str, buckets: int) -> int:
    """CRC-32 bucket of a token: the same in every process (unlike ``hash``, which is salted).

    >>> stable_bucket("paris", 8)
    2
    """
    return zlib.crc32(token.encode("utf-8")) % buckets


def _value_transform(spec: NumericFeature) -> Callable[[Any], float]:
    field = spec.field or ""
    if spec.transform in ("hour_of_day", "day_of_week"):
        to_feature = hour_of_day if spec.transform == "hour_of_day" else day_of_week
        return lambda value: to_feature(timestamp(value, field))
    if spec.transform == "log1p":

        def log1p(value: Any) -> float:
            x = finite_number(value, field)
            if x <= -1.0:
                raise BadMessage(f"{field}: log1p needs a value above -1, got {x!r}")
            return math.log1p(x)

        return log1p
    if spec.transform == "clip":
        low = -math.inf if spec.min is None else spec.min
        high = math.inf if spec.max is None else spec.max
        return lambda value: min(max(finite_number(value, field), low), high)
    return lambda value: finite_number(value, field)


def _numeric(spec: NumericFeature) -> Encoder:
    name, field, default = spec.name, spec.field, spec.default
    if field is None:  # a time transform of the event time
        of_time = hour_of_day if spec.transform == "hour_of_day" else day_of_week

        def encode_event_time(record: dict[str, Any], ts: float, out: dict[str, float]) -> None:
            out[name] = of_time(ts)

        return encode_event_time
    transform = _value_transform(spec)

    def encode_numeric(record: dict[str, Any], ts: float, out: dict[str, float]) -> None:
        value = record.get(field)
        if value is not None:
            out[name] = transform(value)
        elif default is not None:
            out[name] = default
        else:
            raise BadMessage(f"{field}: missing")

    return encode_numeric


def _onehot(spec: OneHotFeature) -> Encoder:
    field, strict = spec.field, spec.on_unknown == "error"
    column = dict(zip(spec.values, spec.feature_names, strict=True))

    def encode_onehot(record: dict[str, Any], ts: float, out: dict[str, float]) -> None:
        value = record.get(field)
        kind = type(value)
        if kind is int:
            value = str(value)
        elif kind is not str and value is not None:
            raise BadMessage(f"{field}: expected a string category, got {kind.__name__}")
        hit = column.get(value)  # type: ignore[arg-type]
        if hit is None and strict:
            raise BadMessage(f"{field}: missing" if value is None else f"{field}: unknown value {value!r}")
        if hit is not None:
            out[hit] = 1.0

    return encode_onehot


def _hashed(spec: HashedFeature) -> Encoder:
    field, buckets, names = spec.field, spec.buckets, spec.feature_names

    def token(value: Any, where: str) -> str:
        kind = type(value)
        if kind is str:
            return value
        if kind is int:
            return str(value)
        raise BadMessage(f"{where}: expected a string category, got {kind.__name__}")

    def encode_hashed(record: dict[str, Any], ts: float, out: dict[str, float]) -> None:
        value = record.get(field)
        if value is None:
            return
        if type(value) is list:
            tokens = [token(item, f"{field}[{i}]") for i, item in enumerate(value)]
        else:
            tokens = [token(value, field)]
        for text in tokens:
            out[names[stable_bucket(text, buckets)]] += 1.0

    return encode_hashed


def compile_encoder(spec: Spec) -> Encoder:
    """The closure computing a stateless spec's features (``numeric``, ``onehot`` or ``hashed``)."""
    if isinstance(spec, NumericFeature):
        return _numeric(spec)
    if isinstance(spec, OneHotFeature):
        return _onehot(spec)
    if isinstance(spec, HashedFeature):
        return _hashed(spec)
    raise TypeError(f"{type(spec).__name__} is not a stateless feature spec")
