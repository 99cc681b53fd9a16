"""A validated ONNX model, ready to score one feature dict at a time.

The model contract (docs/architecture.md): one float32 input ``[N, len(feature_names)]``; classification
models return ``label`` and ``probabilities`` (skl2onnx ``zipmap=False`` shape) and name their ``classes``;
regression models return one value per row. The metadata travels inside the ONNX file
(``metadata_props``), so a model is self-describing wherever it is read from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime as ort
import orjson

from streamloop.worker.codec import BadMessage


class ModelRejected(ValueError):
    """A model that must not serve; the reason says which check failed."""


def _session_options() -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # one message at a time per instance: threads only add overhead
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return options


def _metadata_list(meta: Mapping[str, str], key: str) -> list[Any] | None:
    if key not in meta:
        return None
    try:
        value = orjson.loads(meta[key])
    except orjson.JSONDecodeError:
        raise ModelRejected(f"metadata {key}: not valid JSON") from None
    if not isinstance(value, list):
        raise ModelRejected(f"metadata {key}: expected a JSON list")
    return value


@dataclass(frozen=True)
class Prediction:
    y_pred: Any
    proba: dict[str, float] | None


class OnnxModel:
    """An ONNX Runtime session plus the contract around it.

    Build one with :meth:`load`, which validates everything before the model may serve.
    """

    def __init__(
        self,
        session: ort.InferenceSession,
        name: str,
        version: str,
        feature_names: Sequence[str],
        classes: Sequence[Any] | None,
        metadata: Mapping[str, str],
    ) -> None:
        self.session = session
        self.name = name
        self.version = version
        self.feature_names = tuple(feature_names)
        self.classes = tuple(classes) if classes is not None else None
        self.metadata = dict(metadata)
        self.label = f"{name}:{version}"
        self._input_name = session.get_inputs()[0].name
        outputs = [o.name for o in session.get_outputs()]
        # Classification reads the probabilities (so class values keep their JSON type); regression the value.
        self._output_name = outputs[1] if self.classes is not None else outputs[0]
        self._class_keys = tuple(
            str(c).lower() if isinstance(c, bool) else str(c) for c in self.classes or ()
        )
        # Both buffers are bound once (io_binding): a prediction writes the row in place and runs, with no
        # per-message feeds dict, input copy or output allocation. One plain run learns the output's shape.
        self._row = np.zeros((1, len(self.feature_names)), dtype=np.float32)
        first = session.run([self._output_name], {self._input_name: self._row})[0]
        self._out = np.zeros(first.shape, dtype=first.dtype)
        self._binding = session.io_binding()
        self._input = ort.OrtValue.ortvalue_from_numpy(self._row)  # shares the row's memory
        self._binding.bind_ortvalue_input(self._input_name, self._input)
        self._binding.bind_output(
            self._output_name, "cpu", 0, self._out.dtype, self._out.shape, self._out.ctypes.data
        )
        self._values = self._out[0] if self._out.ndim > 1 else self._out  # a view of the first row

    @classmethod
    def load(
        cls,
        payload: bytes,
        name: str,
        *,
        max_bytes: int,
        probe: Mapping[str, float] | None = None,
        expected_features: Sequence[str] | None = None,
    ) -> OnnxModel:
        """Load and validate a model; raise :class:`ModelRejected` with the reason if it must not serve.

        Checks: size, that ONNX Runtime loads it, its metadata (version, feature names, task, classes),
        one float input as wide as the feature names, that the names match ``expected_features`` (or the
        features of the ``probe`` row), and that the probe row gives finite output.
        """
        if len(payload) > max_bytes:
            raise ModelRejected(f"size: {len(payload)} bytes is over the limit of {max_bytes}")
        try:
            session = ort.InferenceSession(payload, _session_options(), providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises several types for unparsable bytes
            raise ModelRejected(f"onnx: cannot load ({type(error).__name__}: {str(error)[:300]})") from None
        meta = session.get_modelmeta().custom_metadata_map
        version = meta.get("version")
        if not version:
            raise ModelRejected("metadata version: missing")
        feature_names = _metadata_list(meta, "feature_names")
        if not feature_names or not all(isinstance(f, str) for f in feature_names):
            raise ModelRejected("metadata feature_names: expected a non-empty JSON list of names")
        task = meta.get("task", "classification")
        if task not in ("classification", "regression"):
            raise ModelRejected(f"metadata task: expected classification or regression, got {task!r}")
        classes = _metadata_list(meta, "classes") if task == "classification" else None
        if task == "classification" and not classes:
            raise ModelRejected("metadata classes: a classification model must name its classes")
        inputs = session.get_inputs()
        if len(inputs) != 1 or inputs[0].type != "tensor(float)":
            raise ModelRejected("input: expected exactly one float32 tensor")
        width = inputs[0].shape[-1] if inputs[0].shape else None
        if width != len(feature_names):
            raise ModelRejected(f"input: width {width} does not match {len(feature_names)} feature_names")
        outputs = session.get_outputs()
        if task == "classification" and len(outputs) < 2:
            raise ModelRejected("outputs: a classifier must return label and probabilities")
        wanted = list(expected_features) if expected_features is not None else None
        if wanted is None and probe is not None:
            wanted = list(probe)
        if wanted is not None:
            missing = [f for f in feature_names if f not in set(wanted)]
            if missing:
                raise ModelRejected(f"feature_names: the features stream has no {missing[:5]}")
        row = {f: 0.0 for f in feature_names} if probe is None else probe
        try:
            model = cls(session, name, str(version), feature_names, classes, meta)
            result = model.predict(row)
        except Exception as error:
            raise ModelRejected(f"probe: scoring failed ({type(error).__name__}: {error})") from None
        values = [result.y_pred] if result.proba is None else list(result.proba.values())
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            raise ModelRejected(f"probe: non-finite output {values}")
        if classes is not None and len(values) != len(classes):
            raise ModelRejected(f"outputs: {len(values)} probabilities for {len(classes)} classes")
        return model

    def predict(self, x: Mapping[str, float]) -> Prediction:
        """Score one feature dict (every feature name must be present)."""
        row = self._row[0]
        try:
            for i, name in enumerate(self.feature_names):
                row[i] = x[name]
        except KeyError as error:
            raise BadMessage(f"x.{error.args[0]}: missing, and model {self.label} needs it") from None
        self.session.run_with_iobinding(self._binding)
        out = self._values
        if self.classes is None:
            return Prediction(float(out[0]) if out.ndim else float(out), None)
        proba = dict(zip(self._class_keys, out.tolist(), strict=False))
        return Prediction(self.classes[int(out.argmax())], proba)
