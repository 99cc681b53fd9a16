"""The ONNX model contract: what a ``models`` message is, written by the learner and ``streamloop train``,
read and validated by the scorer.

A model message is ONNX bytes that carry their own metadata (``metadata_props``): the scorer's model feed
hands it message values only, so everything it needs travels inside the file; the message properties
repeat the same strings for people and tools (``pulsar-admin topics examine-message``).

- **Metadata**: ``version``; ``feature_names`` (a JSON list); ``task`` (``classification`` or
  ``regression``); ``classes`` (a JSON list, classification only); and any of ``n_trained``,
  ``created_at``, ``source`` and metric values, as strings.
- **Graph**: one float32 input ``[N, len(feature_names)]``, columns in ``feature_names`` order; a
  classifier returns ``label`` and ``probabilities`` ``[N, len(classes)]`` (skl2onnx's ``zipmap=False``
  shape), a regressor one value per row.

>>> import onnx
>>> meta = ModelMetadata("3", ("a", "b"), "classification", (False, True), {"n_trained": 40})
>>> payload = write_model(onnx.ModelProto(), meta)
>>> props = read_properties(payload)
>>> props["feature_names"], props["classes"], props["n_trained"]
('["a","b"]', '[false,true]', '40')
>>> ModelMetadata.parse(props).extra
{'n_trained': '40'}
>>> ModelMetadata.parse({"version": "3", "feature_names": "a,b"})
Traceback (most recent call last):
...
streamloop.worker.modelcontract.ModelRejected: metadata feature_names: not valid JSON
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import onnx
import orjson

from streamloop.worker.codec import BadMessage, finite_number

if TYPE_CHECKING:
    import onnxruntime as ort

TASKS = ("classification", "regression")
CONTRACT_KEYS = ("version", "feature_names", "task", "classes")


class ModelRejected(ValueError):
    """A model that must not serve; the reason says which check failed."""


def _text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _json_list(props: Mapping[str, str], key: str) -> list[Any] | None:
    if key not in props:
        return None
    try:
        value = orjson.loads(props[key])
    except orjson.JSONDecodeError:
        raise ModelRejected(f"metadata {key}: not valid JSON") from None
    if not isinstance(value, list):
        raise ModelRejected(f"metadata {key}: expected a JSON list")
    return value


@dataclass(frozen=True)
class ModelMetadata:
    """The metadata of one model: what the scorer needs to serve it, plus ``extra`` for people and tools."""

    version: str
    feature_names: tuple[str, ...]
    task: str = "classification"
    classes: tuple[Any, ...] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def properties(self) -> dict[str, str]:
        """The strings written to ``metadata_props`` and to the message properties (lists as JSON)."""
        props = {"version": self.version, "feature_names": _text(list(self.feature_names)), "task": self.task}
        if self.classes is not None:
            props["classes"] = _text(list(self.classes))
        props.update({key: _text(value) for key, value in self.extra.items() if value is not None})
        return props

    @classmethod
    def parse(cls, props: Mapping[str, str]) -> ModelMetadata:
        """Read the metadata back, raising :class:`ModelRejected` naming the first key that breaks it."""
        version = props.get("version")
        if not version:
            raise ModelRejected("metadata version: missing")
        feature_names = _json_list(props, "feature_names")
        if not feature_names or not all(isinstance(f, str) for f in feature_names):
            raise ModelRejected("metadata feature_names: expected a non-empty JSON list of names")
        task = props.get("task", "classification")
        if task not in TASKS:
            raise ModelRejected(f"metadata task: expected classification or regression, got {task!r}")
        classes = _json_list(props, "classes") if task == "classification" else None
        if task == "classification" and not classes:
            raise ModelRejected("metadata classes: a classification model must name its classes")
        extra = {key: value for key, value in props.items() if key not in CONTRACT_KEYS}
        return cls(version, tuple(feature_names), task, tuple(classes) if classes else None, extra)


# -- writing (the learner, streamloop train) ----------------------------------------------------------------
def write_model(model: onnx.ModelProto, metadata: ModelMetadata) -> bytes:
    """Set the model's ``metadata_props`` (replacing keys that exist) and return the serialized model."""
    props = metadata.properties()
    kept = [p for p in model.metadata_props if p.key not in props]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return model.SerializeToString()


def read_properties(payload: bytes) -> dict[str, str]:
    """The ``metadata_props`` of serialized ONNX bytes: the properties its message carries."""
    model = onnx.load_from_string(payload)
    return {p.key: p.value for p in model.metadata_props}


# -- validating (the scorer, and streamloop train before it publishes) --------------------------------------
def load_session(payload: bytes, max_bytes: int, options: ort.SessionOptions) -> ort.InferenceSession:
    """An ONNX Runtime session of ``payload``, or :class:`ModelRejected` if it is too big or does not load."""
    import onnxruntime as ort  # here, not at the top: the learner writes models and never runs one

    if len(payload) > max_bytes:
        raise ModelRejected(f"size: {len(payload)} bytes is over the limit of {max_bytes}")
    try:
        return ort.InferenceSession(payload, options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises several types for unparsable bytes
        raise ModelRejected(f"onnx: cannot load ({type(error).__name__}: {str(error)[:300]})") from None


def read_session(session: ort.InferenceSession, available: Collection[str] | None = None) -> ModelMetadata:
    """The metadata of a loaded model, checked against its graph and the features the scorer sees.

    Checks: the metadata (:meth:`ModelMetadata.parse`), one float input as wide as ``feature_names``, a
    classifier's two outputs, and (if ``available`` is given) that every feature name is available.
    """
    metadata = ModelMetadata.parse(session.get_modelmeta().custom_metadata_map)
    inputs = session.get_inputs()
    if len(inputs) != 1 or inputs[0].type != "tensor(float)":
        raise ModelRejected("input: expected exactly one float32 tensor")
    width = inputs[0].shape[-1] if inputs[0].shape else None
    if width != len(metadata.feature_names):
        raise ModelRejected(
            f"input: width {width} does not match {len(metadata.feature_names)} feature_names"
        )
    if metadata.task == "classification" and len(session.get_outputs()) < 2:
        raise ModelRejected("outputs: a classifier must return label and probabilities")
    if available is not None:
        missing = [f for f in metadata.feature_names if f not in available]
        if missing:
            raise ModelRejected(f"feature_names: the features stream has no {missing[:5]}")
    return metadata


def check_probe(values: Sequence[Any], metadata: ModelMetadata) -> None:
    """The probe row's output (the prediction, or each class probability) must be finite, one per class."""
    try:
        for value in values:
            finite_number(value, "probe")
    except BadMessage:
        raise ModelRejected(f"probe: non-finite output {list(values)}") from None
    if metadata.classes is not None and len(values) != len(metadata.classes):
        raise ModelRejected(f"outputs: {len(values)} probabilities for {len(metadata.classes)} classes")
