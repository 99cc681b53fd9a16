"""Small hand-built ONNX models for tests: good ones, and every kind of bad one a scorer must refuse."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from streamloop.worker.modelcontract import ModelMetadata, write_model


def linear_classifier(
    feature_names: Sequence[str],
    weights: Sequence[float],
    bias: float = 0.0,
    *,
    version: str = "1",
    classes: Sequence[Any] = (False, True),
    input_width: int | None = None,
    output_nan: bool = False,
    metadata: dict[str, Any] | None = None,
) -> bytes:
    """``p = sigmoid(x·w + b)``; outputs ``label`` (argmax) and ``probabilities`` ``[1-p, p]``."""
    width = len(feature_names) if input_width is None else input_width
    w = np.asarray(list(weights) + [0.0] * (width - len(weights)), dtype=np.float32).reshape(width, 1)
    nodes = [
        helper.make_node("MatMul", ["input", "W"], ["xw"]),
        helper.make_node("Add", ["xw", "B"], ["z"]),
        helper.make_node("Sigmoid", ["z"], ["p"]),
        helper.make_node("Sub", ["one", "p"], ["q"]),
        helper.make_node("Concat", ["q", "p"], ["probs"], axis=1),
        helper.make_node("Mul", ["probs", "scale"], ["probabilities"]),
        helper.make_node("ArgMax", ["probabilities"], ["label2d"], axis=1, keepdims=0),
        helper.make_node("Identity", ["label2d"], ["label"]),
    ]
    initializers = [
        numpy_helper.from_array(w, "W"),
        numpy_helper.from_array(np.asarray([bias], dtype=np.float32), "B"),
        numpy_helper.from_array(np.asarray([1.0], dtype=np.float32), "one"),
        numpy_helper.from_array(np.asarray([np.nan if output_nan else 1.0], dtype=np.float32), "scale"),
    ]
    graph = helper.make_graph(
        nodes,
        "linear",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, width])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2]),
        ],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    extra = dict(metadata or {})
    version = extra.pop("version", version)
    meta = ModelMetadata(version, tuple(feature_names), "classification", tuple(classes), extra)
    return write_model(model, meta)


def sigmoid(z: float) -> float:
    return float(1 / (1 + np.exp(-z)))
