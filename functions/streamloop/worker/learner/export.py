"""River linear pipelines to ONNX, written with ``onnx.helper``: the scorer serves what the learner learned.

Supported: any number of ``preprocessing.StandardScaler`` followed by a binary
``linear_model.LogisticRegression`` or a ``linear_model.LinearRegression`` (or the bare linear model).
The graph takes one float32 input ``input`` ``[N, F]`` (columns in ``feature_names`` order) and computes in
float64, like river: scaling with river's safe division (a feature of zero variance scales to 0), the dot
product with the weights (0 for a feature river never saw) plus the intercept, then the sigmoid.
Outputs: ``label`` ``[N]`` and ``probabilities`` ``[N, 2]`` (columns in ``classes`` order, river's
``predict_proba_one`` key order ``False, True``) for classification; ``variable`` ``[N, 1]`` for regression.

>>> import numpy as np, onnxruntime as ort
>>> from river import linear_model
>>> model = linear_model.LogisticRegression()
>>> for i in range(20):
...     model.learn_one({"a": i % 3, "b": 1.0}, i % 3 == 0)
>>> blob = model_to_onnx(model, ["a", "b"], {"version": "1"})
>>> session = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
>>> label, proba = session.run(None, {"input": np.array([[0.0, 1.0]], dtype=np.float32)})
>>> river_p = model.predict_proba_one({"a": 0.0, "b": 1.0})[True]
>>> bool(label[0]) == model.predict_one({"a": 0.0, "b": 1.0}), abs(float(proba[0, 1]) - river_p) < 1e-6
(True, True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from river import compose, linear_model, optim, preprocessing

from streamloop.worker.learner.models import model_task
from streamloop.worker.modelcontract import ModelMetadata, write_model

OPSET = 17
IR_VERSION = 8  # readable by every onnxruntime >= 1.14


class UnsupportedModel(ValueError):
    """The exporter cannot write this model; ``step`` (and ``param``) say which part."""

    def __init__(self, message: str, step: int, param: str | None = None) -> None:
        super().__init__(message)
        self.step = step
        self.param = param


def _steps(model: Any) -> list[Any]:
    return list(model.steps.values()) if isinstance(model, compose.Pipeline) else [model]


def check_exportable(model: Any) -> None:
    """Raise :class:`UnsupportedModel` unless :func:`model_to_onnx` can write ``model``.

    >>> from river import preprocessing, linear_model
    >>> check_exportable(preprocessing.StandardScaler() | linear_model.LinearRegression())
    >>> check_exportable(linear_model.LinearRegression(loss=optim.losses.Poisson()))
    Traceback (most recent call last):
    ...
    streamloop.worker.learner.export.UnsupportedModel: LinearRegression with Poisson loss: no identity link
    """
    steps = _steps(model)
    supported = (
        "the ONNX exporter supports StandardScaler steps followed by LogisticRegression or LinearRegression"
    )
    for i, step in enumerate(steps[:-1]):
        if not isinstance(step, preprocessing.StandardScaler):
            raise UnsupportedModel(f"{type(step).__name__}: {supported}", i)
    last, i = steps[-1], len(steps) - 1
    if isinstance(last, linear_model.LogisticRegression):
        if type(last.loss).mean_func is not optim.losses.BinaryLoss.mean_func:
            raise UnsupportedModel(
                f"LogisticRegression with {type(last.loss).__name__} loss: no sigmoid link", i, "loss"
            )
    elif isinstance(last, linear_model.LinearRegression):
        if type(last.loss).mean_func is not optim.losses.RegressionLoss.mean_func:
            raise UnsupportedModel(
                f"LinearRegression with {type(last.loss).__name__} loss: no identity link",
                i,
                "loss",
            )
    else:
        raise UnsupportedModel(f"{type(last).__name__} as the last step: {supported}", i)


def _scaler_arrays(
    scaler: preprocessing.StandardScaler, names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, scale)`` such that river's ``transform_one`` is ``(x - mean) * scale`` (read-only)."""
    windowed = scaler.window_size is not None
    mean = np.zeros(len(names))
    scale = np.ones(len(names))
    for j, name in enumerate(names):
        m = scaler.means.get(name)
        mean[j] = (m.get() if windowed else m) if m is not None else 0.0
        if scaler.with_std:
            v = scaler.vars.get(name)
            var = (v.get() if windowed else v) if v is not None else 0.0
            scale[j] = 1.0 / var**0.5 if var else 0.0
    return mean, scale


def _classes_tensor(classes: Sequence[Any]) -> TensorProto:
    if all(isinstance(c, bool) for c in classes):
        return numpy_helper.from_array(np.array(classes, dtype=bool), "classes")
    if all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return numpy_helper.from_array(np.array(classes, dtype=np.int64), "classes")
    if all(isinstance(c, str) for c in classes):
        return helper.make_tensor(
            "classes", TensorProto.STRING, [len(classes)], [c.encode() for c in classes]
        )
    raise ValueError(f"classes: expected two labels of one type (bool, int or str), got {list(classes)!r}")


def model_metadata(
    model: Any,
    feature_names: Sequence[str],
    metadata: Mapping[str, str],
    classes: Sequence[Any] = (False, True),
) -> ModelMetadata:
    """The model contract's metadata of ``model``: ``metadata`` (with ``version``) plus its task and classes.

    >>> from river import linear_model
    >>> meta = model_metadata(linear_model.LinearRegression(), ["a", "b"], {"version": "1", "source": "doc"})
    >>> meta.task, meta.classes, meta.extra
    ('regression', None, {'source': 'doc'})
    """
    task = model_task(model)
    extra = {key: value for key, value in metadata.items() if key != "version"}
    labels = tuple(classes) if task == "classification" else None
    return ModelMetadata(str(metadata["version"]), tuple(feature_names), task, labels, extra)


def model_to_onnx(
    model: Any,
    feature_names: Sequence[str],
    metadata: Mapping[str, str],
    *,
    classes: Sequence[Any] = (False, True),
) -> bytes:
    """Serialize ``model`` as an ONNX model over ``feature_names``, with ``metadata`` in ``metadata_props``.

    Parameters
    ----------
    model
        A river pipeline accepted by :func:`check_exportable`.
    feature_names
        The input columns, in order; features river never saw get weight 0.
    metadata
        String properties (``version``, ``n_trained``, ``created_at``, ``source``, metric values);
        ``feature_names``, ``task`` and ``classes`` are added here (:func:`model_metadata`).
    classes
        The labels river's ``False`` and ``True`` stand for, in that order (classification only).

    Examples
    --------
    >>> import onnx
    >>> from river import linear_model
    >>> blob = model_to_onnx(linear_model.LinearRegression(), ["a"], {"version": "3"})
    >>> {p.key: p.value for p in onnx.load_from_string(blob).metadata_props}["task"]
    'regression'
    """
    check_exportable(model)
    steps = _steps(model)
    names = list(feature_names)
    task = model_task(model)
    init: list[TensorProto] = []
    nodes = [helper.make_node("Cast", ["input"], ["x0"], to=TensorProto.DOUBLE)]
    x = "x0"
    for i, scaler in enumerate(steps[:-1]):
        mean, scale = _scaler_arrays(scaler, names)
        init += [numpy_helper.from_array(mean, f"mean{i}"), numpy_helper.from_array(scale, f"scale{i}")]
        nodes += [
            helper.make_node("Sub", [x, f"mean{i}"], [f"centred{i}"]),
            helper.make_node("Mul", [f"centred{i}", f"scale{i}"], [f"x{i + 1}"]),
        ]
        x = f"x{i + 1}"
    linear = steps[-1]
    weights = np.array([[linear._weights.get(name, 0.0)] for name in names], dtype=np.float64).reshape(-1, 1)
    init += [
        numpy_helper.from_array(weights, "weights"),
        numpy_helper.from_array(np.array([float(linear.intercept)]), "intercept"),
    ]
    nodes += [
        helper.make_node("MatMul", [x, "weights"], ["dot"]),
        helper.make_node("Add", ["dot", "intercept"], ["raw"]),
    ]
    if task == "classification":
        if len(classes) != 2:
            raise ValueError(f"classes: a binary model needs two labels, got {list(classes)!r}")
        init += [
            _classes_tensor(classes),
            numpy_helper.from_array(np.array(1.0), "one"),
            numpy_helper.from_array(np.array(0.5), "half"),
            numpy_helper.from_array(np.array([-1], dtype=np.int64), "flat"),
        ]
        nodes += [
            helper.make_node("Sigmoid", ["raw"], ["p_true"]),
            helper.make_node("Sub", ["one", "p_true"], ["p_false"]),
            helper.make_node("Concat", ["p_false", "p_true"], ["p64"], axis=1),
            helper.make_node("Cast", ["p64"], ["probabilities"], to=TensorProto.FLOAT),
            # river's predict_one is the first class of maximal probability: True only when p > 0.5
            helper.make_node("Greater", ["p_true", "half"], ["is_true"]),
            helper.make_node("Cast", ["is_true"], ["index2d"], to=TensorProto.INT64),
            helper.make_node("Reshape", ["index2d", "flat"], ["index"]),
            helper.make_node("Gather", ["classes", "index"], ["label"], axis=0),
        ]
        label_type = init[-4].data_type
        outputs = [
            helper.make_tensor_value_info("label", label_type, ["N"]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2]),
        ]
    else:
        nodes.append(helper.make_node("Cast", ["raw"], ["variable"], to=TensorProto.FLOAT))
        outputs = [helper.make_tensor_value_info("variable", TensorProto.FLOAT, ["N", 1])]
    graph = helper.make_graph(
        nodes,
        "streamloop",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", len(names)])],
        outputs,
        initializer=init,
    )
    onnx_model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="streamloop",
    )
    onnx.checker.check_model(onnx_model)
    return write_model(onnx_model, model_metadata(model, names, metadata, classes))
