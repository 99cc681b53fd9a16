"""A small ONNX graph builder: unique names, float64 inside, and the output heads of the model contract.

Every converter (:mod:`~streamloop.worker.learner.export.registry`) adds nodes to one :class:`Graph`. The
graph's input is the contract's float32 ``input`` ``[N, F]``, cast once to float64 (``graph.x``) so the
arithmetic is river's; the heads cast the results back to the contract's float32 outputs.

>>> import numpy as np, onnxruntime as ort
>>> g = Graph(["a", "b"])
>>> total = g.node("ReduceSum", [g.x, g.const(np.array([1], dtype=np.int64), "axes")], keepdims=1)
>>> blob = g.finish(g.regression(total)).SerializeToString()
>>> session = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
>>> session.run(None, {"input": np.array([[1.5, 2.0]], dtype=np.float32)})[0].tolist()
[[3.5]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
ML_OPSET = 3  # ai.onnx.ml, for converters that need its operators
IR_VERSION = 8  # readable by every onnxruntime >= 1.14


class Graph:
    """Nodes and initialisers of one model over ``feature_names`` (``x``: the input as float64)."""

    def __init__(self, feature_names: Sequence[str]) -> None:
        self.feature_names = list(feature_names)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[TensorProto] = []
        self.domains: set[str] = set()
        self._count = 0
        self.x = self.node("Cast", ["input"], hint="x", to=TensorProto.DOUBLE)

    def name(self, hint: str) -> str:
        """A name used nowhere else in the graph."""
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value: Any, hint: str = "c") -> str:
        """An initialiser holding ``value`` (a numpy array, or a float becoming a float64 scalar)."""
        array = value if isinstance(value, np.ndarray) else np.array(value, dtype=np.float64)
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def strings(self, values: Sequence[str], hint: str = "s") -> str:
        """A 1-D string initialiser."""
        name = self.name(hint)
        self.initializers.append(
            helper.make_tensor(name, TensorProto.STRING, [len(values)], [v.encode() for v in values])
        )
        return name

    def node(
        self, op: str, inputs: Sequence[str], *, hint: str | None = None, domain: str = "", **attrs: Any
    ) -> str:
        """Add ``op`` on ``inputs``; return its (single) output's name."""
        (output,) = self.node_outputs(op, inputs, 1, hint=hint, domain=domain, **attrs)
        return output

    def node_outputs(
        self,
        op: str,
        inputs: Sequence[str],
        n: int,
        *,
        hint: str | None = None,
        domain: str = "",
        **attrs: Any,
    ) -> list[str]:
        """Add ``op`` with ``n`` outputs; return their names."""
        outputs = [self.name(hint or op.lower()) for _ in range(n)]
        self.nodes.append(helper.make_node(op, list(inputs), outputs, domain=domain or None, **attrs))
        if domain:
            self.domains.add(domain)
        return outputs

    # -- the contract's outputs ------------------------------------------------------------------------
    def classification(
        self, proba: str, classes: Sequence[Any], ties: Sequence[int] | None = None
    ) -> list[onnx.ValueInfoProto]:
        """``label`` ``[N]`` (the first class of highest probability, as river's ``predict_one``) and
        ``probabilities`` ``[N, len(classes)]`` from ``proba``: float64 ``[N, K]`` in ``classes`` order.
        With ``ties`` (column indices), equal probabilities go to the first class in that order instead."""
        ranked = proba
        if ties is not None:
            ranked = self.node("Gather", [proba, self.const(np.array(ties, dtype=np.int64), "ties")], axis=1)
            classes = [classes[i] for i in ties]
        index = self.node("ArgMax", [ranked], axis=1, keepdims=0, select_last_index=0)
        table, label_type = _classes_initializer(self, classes)
        self.nodes.append(helper.make_node("Gather", [table, index], ["label"], axis=0))
        self.nodes.append(helper.make_node("Cast", [proba], ["probabilities"], to=TensorProto.FLOAT))
        return [
            helper.make_tensor_value_info("label", label_type, ["N"]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", len(classes)]),
        ]

    def regression(self, value: str) -> list[onnx.ValueInfoProto]:
        """``variable`` ``[N, 1]`` from ``value``: float64 ``[N, 1]``."""
        self.nodes.append(helper.make_node("Cast", [value], ["variable"], to=TensorProto.FLOAT))
        return [helper.make_tensor_value_info("variable", TensorProto.FLOAT, ["N", 1])]

    def finish(self, outputs: list[onnx.ValueInfoProto]) -> onnx.ModelProto:
        """The checked ONNX model with ``outputs``."""
        graph = helper.make_graph(
            self.nodes,
            "streamloop",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", len(self.feature_names)])],
            outputs,
            initializer=self.initializers,
        )
        opsets = [helper.make_opsetid("", OPSET)]
        opsets += [helper.make_opsetid(domain, ML_OPSET) for domain in sorted(self.domains)]
        model = helper.make_model(
            graph, opset_imports=opsets, ir_version=IR_VERSION, producer_name="streamloop"
        )
        onnx.checker.check_model(model)
        return model


def _classes_initializer(graph: Graph, classes: Sequence[Any]) -> tuple[str, int]:
    if all(isinstance(c, bool) for c in classes):
        return graph.const(np.array(classes, dtype=bool), "classes"), TensorProto.BOOL
    if all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return graph.const(np.array(classes, dtype=np.int64), "classes"), TensorProto.INT64
    if all(isinstance(c, str) for c in classes):
        return graph.strings(list(classes), "classes"), TensorProto.STRING
    raise ValueError(f"classes: expected labels of one type (bool, int or str), got {list(classes)!r}")
