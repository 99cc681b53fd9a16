"""A validated ONNX model, ready to score one feature dict at a time.

What a model must be to serve is :mod:`streamloop.worker.modelcontract`; this module runs one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime as ort

from streamloop.worker.codec import BadMessage
from streamloop.worker.modelcontract import (
    ModelMetadata,
    ModelRejected,
    check_probe,
    load_session,
    read_session,
)


def _session_options() -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # one message at a time per instance: threads only add overhead
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return options


@dataclass(frozen=True)
class Prediction:
    y_pred: Any
    proba: dict[str, float] | None


class OnnxModel:
    """An ONNX Runtime session plus the contract around it.

    Build one with :meth:`load`, which validates everything before the model may serve.
    """

    def __init__(self, session: ort.InferenceSession, name: str, metadata: ModelMetadata) -> None:
        self.session = session
        self.name = name
        self.metadata = metadata
        self.version = metadata.version
        self.feature_names = metadata.feature_names
        self.classes = metadata.classes
        self.label = f"{name}:{metadata.version}"
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
        if self.classes is not None:  # read only on a tie (below); ONNX Runtime allocates it
            self._label_output = outputs[0]
            self._binding.bind_output(self._label_output)
            self._class_of = {c: c for c in self.classes}

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

        Checks (:mod:`~streamloop.worker.modelcontract`): size, that ONNX Runtime loads it, its metadata
        and graph, that its feature names are in ``expected_features`` (or the features of the ``probe``
        row), and that the probe row (zeros without one) gives finite output.
        """
        session = load_session(payload, max_bytes, _session_options())
        available = expected_features if expected_features is not None else probe
        metadata = read_session(session, None if available is None else set(available))
        row = dict.fromkeys(metadata.feature_names, 0.0) if probe is None else probe
        try:
            model = cls(session, name, metadata)
            result = model.predict(row)
        except Exception as error:
            raise ModelRejected(f"probe: scoring failed ({type(error).__name__}: {error})") from None
        check_probe([result.y_pred] if result.proba is None else list(result.proba.values()), metadata)
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
        values = out.tolist()
        proba = dict(zip(self._class_keys, values, strict=False))
        return Prediction(self._label(values), proba)

    def _label(self, values: list[float]) -> Any:
        """The class of highest probability; on a tie of the float32 probabilities, the model's own
        ``label`` output (it breaks ties in float64 and in its own order, as river's ``predict_one``)."""
        top = max(values)
        index = values.index(top)
        if values.count(top) > 1:
            (label,) = self._binding.get_outputs()[-1].numpy().tolist()  # bound last
            return self._class_of.get(label, self.classes[index])
        return self.classes[index]
