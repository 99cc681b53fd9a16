"""The message contracts: every record on the loop's topics, defined once (DESIGN.md, "Message contracts").

Each shape is a ``TypedDict`` with one builder, used by its producer, and one ``read_*`` check, used by its
consumer: the check decodes the payload (:mod:`~streamloop.worker.codec`), checks the fields the consumer
relies on and raises :class:`~streamloop.worker.codec.BadMessage` naming the first bad field. Records are
plain dicts, so a check costs about what the look-ups it replaces did.

>>> from streamloop.worker.codec import encode
>>> record = features_record("e1", "u1", 1767225600.0, {"amount": 2.0})
>>> read_features(encode(record)) == record
True
>>> scored = prediction_record(record, "default:3", True, {"false": 0.25, "true": 0.75})
>>> example = example_record(read_prediction(encode(scored)), read_label(b'{"id": "e1", "label": true}'))
>>> read_example(encode(example))["y"], example["model"]
(True, 'default:3')
>>> read_features(b'{"id": "e1", "x": {"a": "1"}}')
Traceback (most recent call last):
...
streamloop.worker.codec.BadMessage: x.a: expected a finite number, got str
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, TypedDict

from streamloop.worker.codec import BadMessage, decode_object, finite_number

# datetime's range (years 1..9999): window state converts event times to datetimes.
MIN_TS = datetime(1, 1, 2, tzinfo=timezone.utc).timestamp()
MAX_TS = datetime(9999, 12, 30, tzinfo=timezone.utc).timestamp()


# -- fields shared by several shapes ----------------------------------------------------------------------
def require_id(record: Mapping[str, Any], field: str = "id") -> str:
    """The record's id as a non-empty string (a string or an integer on the wire).

    >>> require_id({"id": 7})
    '7'
    >>> require_id({"id": ""})
    Traceback (most recent call last):
    ...
    streamloop.worker.codec.BadMessage: id: missing or empty
    """
    value = record.get(field)
    kind = type(value)
    if kind is str and value:
        return value  # type: ignore[return-value]
    if kind is int:
        return str(value)
    if value is None or value == "":
        raise BadMessage(f"{field}: missing or empty")
    raise BadMessage(f"{field}: expected a string or integer, got {kind.__name__}")


def _features(record: Mapping[str, Any]) -> dict[str, float]:
    """The ``x`` field: an object of finite numbers, as floats."""
    x = record.get("x")
    if type(x) is not dict:
        raise BadMessage(f"x: expected an object of feature values, got {type(x).__name__}")
    return {name: finite_number(value, f"x.{name}") for name, value in x.items()}


def _seconds(record: Mapping[str, Any]) -> float | None:
    """The ``ts`` field of a record after the features stage: epoch seconds (passed on as sent), or absent."""
    ts = record.get("ts")
    if ts is not None:
        finite_number(ts, "ts")
    return ts


def timestamp(value: Any, field: str) -> float:
    """Epoch seconds from a number or an ISO-8601 string (a naive time is UTC).

    >>> timestamp("2026-01-01T01:00:00Z", "ts"), timestamp(1.5, "ts")
    (1767229200.0, 1.5)
    """
    if type(value) is str:
        text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value  # Python 3.10 needs this
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise BadMessage(f"{field}: expected epoch seconds or an ISO-8601 time, got {value!r}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    seconds = finite_number(value, field)
    if not MIN_TS <= seconds <= MAX_TS:
        raise BadMessage(f"{field}: {seconds!r} is out of range for epoch seconds")
    return seconds


# -- events (in): raw fields, names configurable ------------------------------------------------------------
def event_time(record: Mapping[str, Any], field: str, message_event_time_ms: int) -> float:
    """The event time in epoch seconds: the ``field`` value, else the message's event time.

    An event with neither is a bad message: window aggregates need event time, and the wall clock would
    make a replay compute different features.

    >>> event_time({"ts": "2026-01-01T00:00:00"}, "ts", 0), event_time({}, "ts", 1_500)
    (1767225600.0, 1.5)
    """
    value = record.get(field)
    if value is not None:
        return timestamp(value, field)
    if message_event_time_ms > 0:
        return message_event_time_ms / 1000.0
    raise BadMessage(f"{field}: missing, and the message has no event time")


def entity_key(record: Mapping[str, Any], field: str, message_key: str) -> str:
    """The entity key: the ``field`` value (a string or integer), else the message key, else ``""``.

    >>> entity_key({"user": 42}, "user", "m"), entity_key({}, "user", "m"), entity_key({}, "user", "")
    ('42', 'm', '')
    """
    value = record.get(field)
    if value is None or value == "":
        return message_key
    kind = type(value)
    if kind is str:
        return value  # type: ignore[return-value]
    if kind is int:
        return str(value)
    raise BadMessage(f"{field}: expected a string or integer key, got {kind.__name__}")


def read_event(
    payload: bytes,
    fields: tuple[str, str, str],
    message_key: str,
    message_event_time_ms: int,
) -> tuple[dict[str, Any], str, str, float]:
    """``(raw fields, id, entity key, event time)`` of an event; ``fields`` names its id, key and time.

    >>> read_event(b'{"id": "e1", "user": 4, "amount": 2}', ("id", "user", "ts"), "", 1_500)
    ({'id': 'e1', 'user': 4, 'amount': 2}, 'e1', '4', 1.5)
    """
    return parse_event(decode_object(payload), fields, message_key, message_event_time_ms)


def parse_event(
    record: dict[str, Any],
    fields: tuple[str, str, str],
    message_key: str,
    message_event_time_ms: int,
) -> tuple[dict[str, Any], str, str, float]:
    """:func:`read_event` of an event already decoded (a record of a history file).

    >>> parse_event({"id": 3, "ts": 2.5}, ("id", "key", "ts"), "u1", 0)
    ({'id': 3, 'ts': 2.5}, '3', 'u1', 2.5)
    """
    id_field, key_field, time_field = fields
    return (
        record,
        require_id(record, id_field),
        entity_key(record, key_field, message_key),
        event_time(record, time_field, message_event_time_ms),
    )


# -- features: {"id", "key", "ts", "x"}, keyed by entity key ------------------------------------------------
class Features(TypedDict):
    id: str
    key: str | None
    ts: float | None
    x: dict[str, float]


def features_record(event_id: str, key: str, ts: float, x: dict[str, float]) -> Features:
    """What the features function publishes for one event."""
    return {"id": event_id, "key": key, "ts": ts, "x": x}


def read_features(payload: bytes) -> Features:
    """A features record as the scorer reads it: an id, finite features and (if any) finite epoch seconds."""
    record = decode_object(payload)
    return {
        "id": require_id(record),
        "key": record.get("key"),
        "ts": _seconds(record),
        "x": _features(record),
    }


# -- predictions: features plus model, y_pred, proba; keyed by event id -------------------------------------
class Prediction(TypedDict):
    id: str
    key: str | None
    ts: float | None
    x: dict[str, float]
    model: str | None
    y_pred: Any
    proba: dict[str, float] | None


def prediction_record(features: Features, model: str | None, y_pred: Any, proba: Any) -> Prediction:
    """The scorer's output for one features record (``model``, ``y_pred``, ``proba``: ``None`` if cold)."""
    return {
        "id": features["id"],
        "key": features["key"],
        "ts": features["ts"],
        "x": features["x"],
        "model": model,
        "y_pred": y_pred,
        "proba": proba,
    }


def read_prediction(payload: bytes) -> Prediction:
    """A prediction as the joiner reads it: an id, an ``x`` object and (if any) finite epoch seconds.

    The features' values are checked once, by the learner (:func:`read_example`).
    """
    record = decode_object(payload)
    record["id"] = require_id(record)
    if type(record.get("x")) is not dict:
        raise BadMessage("x: expected an object of feature values")
    record["ts"] = _seconds(record)
    return record  # type: ignore[return-value]


# -- labels (in): {"id", <label_field>, "ts"?}, keyed by event id --------------------------------------------
class Label(TypedDict):
    id: str
    label: Any
    ts: float | None


def read_label(payload: bytes, label_field: str = "label") -> Label:
    """A label as the joiner reads it: an id, a label value (any JSON but ``null``), optional epoch seconds.

    >>> read_label(b'{"id": 7, "fraud": false}', "fraud")
    {'id': '7', 'label': False, 'ts': None}
    """
    record = decode_object(payload)
    event_id = require_id(record)
    value = record.get(label_field)
    if value is None:
        raise BadMessage(f"{label_field}: missing")
    return {"id": event_id, "label": value, "ts": _seconds(record)}


# -- examples: a prediction joined with its label, keyed by event id ----------------------------------------
class Example(TypedDict):
    id: str
    ts: float | None
    x: dict[str, float]
    y: Any
    y_pred: Any
    proba: dict[str, float] | None
    model: str | None


def example_record(prediction: Prediction, label: Label) -> Example:
    """The joiner's output: the prediction's features and serving model's output, with the label as ``y``."""
    return {
        "id": prediction["id"],
        "ts": prediction["ts"],
        "x": prediction["x"],
        "y": label["label"],
        "y_pred": prediction.get("y_pred"),
        "proba": prediction.get("proba"),
        "model": prediction.get("model"),
    }


def read_example(payload: bytes) -> Example:
    """An example as the learner reads it: an id, finite features, a label and a model name or ``null``.

    ``y_pred`` is kept as sent: an unusable one only means the serving model is not scored on it.
    """
    record = decode_object(payload)
    event_id = require_id(record)
    x = _features(record)
    y = record.get("y")
    if y is None:
        raise BadMessage("y: missing")
    model = record.get("model")
    if model is not None and type(model) is not str:
        raise BadMessage(f"model: expected a string or null, got {type(model).__name__}")
    return {
        "id": event_id,
        "ts": record.get("ts"),
        "x": x,
        "y": y,
        "y_pred": record.get("y_pred"),
        "proba": record.get("proba"),
        "model": model,
    }


# -- metrics: one record per event, keyed by model name -----------------------------------------------------
# Every record names its ``event``; ``StreamFunction.metric_event`` adds ``function`` and ``at`` (epoch
# seconds) when it publishes. A ``window`` record's one other field is its metric, named after the learner's
# river metric (``accuracy``, ``mae``, ...).
WINDOW_FIELDS = frozenset({"event", "model", "window", "n", "function", "at"})


def window_event(window: int, model: str, n: int, metric: str, value: float) -> dict[str, Any]:
    """The prequential ``metric`` of ``model`` (a version, or ``<name>:challenger``) over one window."""
    return {"event": "window", "window": window, "model": model, "n": n, metric: value}


def window_metric(record: Mapping[str, Any]) -> tuple[str, float] | None:
    """The metric name and value of a ``window`` record (``None`` when it carries none).

    >>> window_metric(window_event(0, "m:1", 500, "accuracy", 0.9) | {"at": 12.0})
    ('accuracy', 0.9)
    """
    for name, value in record.items():
        if name not in WINDOW_FIELDS:
            return name, float(value)
    return None


def promotion_event(
    model: str,
    version: str,
    reason: str,
    example_id: str,
    champion: str | None,
    paired: bool,
    n_trained: int,
    scores: Mapping[str, float],
    size: int,
    export_seconds: float,
) -> dict[str, Any]:
    """The learner published ``model`` (``name:version``, ``size`` ONNX bytes exported in
    ``export_seconds``) for ``reason``; ``scores`` vs the champion."""
    return {
        "event": "promotion",
        "model": model,
        "version": version,
        "reason": reason,
        "id": example_id,
        "champion": champion,
        "paired": paired,
        "n_trained": n_trained,
        "bytes": size,
        "export_seconds": export_seconds,
        **scores,
    }


def oversize_event(
    model: str, reason: str, size: int, limit: int, export_seconds: float, serving: str | None
) -> dict[str, Any]:
    """The learner did not publish ``model`` (promoted for ``reason``): its ONNX has ``size`` bytes, over
    ``max_model_bytes`` ``limit``; ``serving`` keeps serving."""
    return {
        "event": "oversize",
        "model": model,
        "reason": reason,
        "bytes": size,
        "max_bytes": limit,
        "export_seconds": export_seconds,
        "serving": serving,
    }


def drift_event(model: str | None, example_id: str, detector: str, action: str, n: int) -> dict[str, Any]:
    """The drift detector fired on the serving ``model``'s error at example ``example_id``."""
    return {
        "event": "drift",
        "model": model,
        "id": example_id,
        "detector": detector,
        "action": action,
        "n": n,
    }


def checkpoint_event(model: str, n: int, size: int, acked: int) -> dict[str, Any]:
    """A learner checkpoint of ``size`` bytes after ``n`` examples was stored, acking ``acked`` examples."""
    return {"event": "checkpoint", "model": model, "n": n, "bytes": size, "acked": acked}


def expired_event(side: str, ids: list[str], watermark: float) -> dict[str, Any]:
    """The joiner gave up on ``ids`` (``side`` ``prediction`` or ``label``): the other half never came."""
    return {"event": "expired", "side": side, "n": len(ids), "ids": ids, "watermark": watermark}


def rejection_event(model: str, reason: str, serving: str | None) -> dict[str, Any]:
    """The scorer refused a new ``model`` for ``reason`` and still serves ``serving``."""
    return {"event": "rejection", "model": model, "reason": reason, "serving": serving}


def read_metric_record(payload: bytes) -> dict[str, Any] | None:
    """A ``metrics`` record as the report reads it, or ``None`` for anything that is not one.

    >>> from streamloop.worker.codec import encode
    >>> read_metric_record(encode(drift_event("m:1", "e9", "ADWIN", "keep", 40)))["event"]
    'drift'
    >>> read_metric_record(b"[1]") is None, read_metric_record(b'{"n": 1}') is None
    (True, True)
    """
    try:
        record = decode_object(payload)
    except BadMessage:
        return None
    return record if type(record.get("event")) is str else None


# -- dead letters: the original bytes, with these properties ------------------------------------------------
class DeadLetter(TypedDict):
    error: str
    function: str
    input_topic: str
    message_id: str


def dead_letter_properties(reason: str, function: str, input_topic: str, message_id: Any) -> DeadLetter:
    """The properties of a dead letter (the reason is cut at 2,000 characters)."""
    return {
        "error": reason[:2000],
        "function": function,
        "input_topic": input_topic,
        "message_id": str(message_id),
    }


def read_dead_letter(properties: Mapping[str, str]) -> DeadLetter:
    """A dead letter's properties, for whoever reads the dead-letter topic; ``KeyError`` if one is missing.

    >>> read_dead_letter(dead_letter_properties("x: missing", "scorer", "features", "1:2:0"))["error"]
    'x: missing'
    """
    return {
        "error": properties["error"],
        "function": properties["function"],
        "input_topic": properties["input_topic"],
        "message_id": properties["message_id"],
    }
