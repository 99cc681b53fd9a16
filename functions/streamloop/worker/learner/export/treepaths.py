"""Which leaves a row reaches in river's Hoeffding trees, as a few vectorised ONNX operators.

Every test a row can pass on its way down (``x <= threshold``, ``x == value``, a multiway slot, *no* slot of
a multiway branch) is one 0/1 column of an *edge* matrix ``E`` ``[N, edges]``; an *item* (a leaf, or a
node whose value counts when a row passes it) is the list of edges on its path, and a row reaches it when
the minimum of those columns is 1. Column 0 is always 1 (the empty path). Every value is computed in
float64 exactly as river compares it, so the leaf a row reaches is the one river's ``traverse`` finds.

River's rule for a test it cannot evaluate (``branch.walk`` catches the ``KeyError``) is followed: a branch
on a feature outside ``feature_names`` always takes ``most_common_path()``, and a multiway branch takes it
for a value or slot it has no child for.

>>> import numpy as np, onnxruntime as ort
>>> from streamloop.worker.learner.export.graph import Graph
>>> g = Graph(["a"])
>>> paths = TreePaths(g.feature_names)
>>> le, gt = paths.threshold("a", 0.5)
>>> items = [[le], [gt]]
>>> reach = paths.emit(g, g.x, [items])[0]
>>> value = g.node("MatMul", [reach, g.const(np.array([[1.0], [2.0]]))])  # leaf values 1 and 2
>>> session = ort.InferenceSession(g.finish(g.regression(value)).SerializeToString())
>>> session.run(None, {"input": np.array([[0.5], [0.7]], dtype=np.float32)})[0].tolist()
[[1.0], [2.0]]
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from onnx import TensorProto, helper
from river.tree.nodes.branch import (
    DTBranch,
    NominalBinaryBranch,
    NominalMultiwayBranch,
    NumericBinaryBranch,
    NumericMultiwayBranch,
)

from streamloop.worker.learner.export.graph import Graph

Edge = tuple[str, int, Any]  # (kind, test, side): a column of the edge matrix
Path = tuple[Edge, ...]
ALWAYS: Edge = ("always", 0, 0)


def _number(value: Any) -> float:
    """A nominal value as the float a row's column is compared with (NaN, equal to nothing, otherwise)."""
    return float(value) if isinstance(value, numbers.Real) else math.nan


@dataclass
class _Multiway:
    column: int
    radius: float | None  # numeric multiway: ``floor(x / radius)`` is compared with the slots
    values: list[float]  # per child
    default: int  # most_common_path()


@dataclass
class TreePaths:
    """The edges of one or more trees over ``feature_names``; :meth:`emit` computes the reach of items."""

    feature_names: Sequence[str]
    _binary: list[tuple[str, int, float]] = field(default_factory=list)  # (op, column, operand)
    _multiway: list[_Multiway] = field(default_factory=list)

    def column(self, feature: Any) -> int | None:
        """The input column of ``feature``, or ``None`` if rows do not have it."""
        try:
            return list(self.feature_names).index(feature)
        except ValueError:
            return None

    def threshold(self, feature: str, threshold: float) -> tuple[Edge, Edge]:
        """Edges ``x <= threshold`` and its negation (``feature`` must be a column)."""
        return self._binary_test("LessOrEqual", feature, float(threshold))

    def equals(self, feature: str, value: Any) -> tuple[Edge, Edge]:
        """Edges ``x == value`` and its negation."""
        return self._binary_test("Equal", feature, _number(value))

    def _binary_test(self, op: str, feature: str, operand: float) -> tuple[Edge, Edge]:
        column = self.column(feature)
        assert column is not None
        self._binary.append((op, column, operand))
        k = len(self._binary) - 1
        return ("binary", k, True), ("binary", k, False)

    def multiway(
        self, feature: str, values: Sequence[Any], default: int, radius: float | None = None
    ) -> tuple[list[Edge], Edge]:
        """Per child, the edge "its value (or slot), or no child's and it is the default"; and the edge
        "no child's value" alone (the ``KeyError`` path)."""
        column = self.column(feature)
        assert column is not None
        self._multiway.append(_Multiway(column, radius, [_number(v) for v in values], default))
        q = len(self._multiway) - 1
        children: list[Edge] = [("multiway", q, i) for i in range(len(values))]
        return children, ("none", q, 0)

    # -- ONNX ------------------------------------------------------------------------------------------
    def emit(self, graph: Graph, x: str, trees: Sequence[Sequence[Sequence[Edge]]]) -> list[str]:
        """Per tree, its items' reach: float64 ``[N, len(items)]``, 1 where the row reaches the item."""
        columns, index = self._edge_columns(graph, x)
        edges = graph.node("Concat", columns, axis=1, hint="edges")
        reaches = []
        for items in trees:
            depth = max((len(path) for path in items), default=0) or 1
            table = np.zeros((len(items), depth), dtype=np.int64)  # padded with the ALWAYS column
            for i, path in enumerate(items):
                table[i, : len(path)] = [index[edge] for edge in path]
            taken = graph.node("Gather", [edges, graph.const(table, "paths")], axis=1)
            reaches.append(graph.node("ReduceMin", [taken], axes=[2], keepdims=0, hint="reach"))
        return reaches

    def _edge_columns(self, graph: Graph, x: str) -> tuple[list[str], dict[Edge, int]]:
        rows = graph.node("Shape", [x], start=0, end=1)
        shape = graph.node("Concat", [rows, graph.const(np.array([1], dtype=np.int64), "one")], axis=0)
        one = helper.make_tensor("one", TensorProto.DOUBLE, [1], [1.0])
        columns = [graph.node("ConstantOfShape", [shape], value=one, hint="always")]
        index: dict[Edge, int] = {ALWAYS: 0}
        width = 1
        for op in ("LessOrEqual", "Equal"):
            tests = [(k, c, v) for k, (o, c, v) in enumerate(self._binary) if o == op]
            if not tests:
                continue
            picked = graph.node(
                "Gather", [x, graph.const(np.array([c for _, c, _ in tests], dtype=np.int64))], axis=1
            )
            passed = graph.node(op, [picked, graph.const(np.array([v for _, _, v in tests]))])
            columns.append(graph.node("Cast", [passed], to=TensorProto.DOUBLE))
            columns.append(graph.node("Cast", [graph.node("Not", [passed])], to=TensorProto.DOUBLE))
            for j, (k, _, _) in enumerate(tests):
                index[("binary", k, True)] = width + j
                index[("binary", k, False)] = width + len(tests) + j
            width += 2 * len(tests)
        if self._multiway:
            width = self._multiway_columns(graph, x, columns, index, width)
        return columns, index

    def _multiway_columns(
        self, graph: Graph, x: str, columns: list[str], index: dict[Edge, int], width: int
    ) -> int:
        pairs = [(q, i, node) for q, node in enumerate(self._multiway) for i in range(len(node.values))]
        n_pairs, n_nodes = len(pairs), len(self._multiway)
        picked = graph.node(
            "Gather",
            [x, graph.const(np.array([node.column for _, _, node in pairs], dtype=np.int64))],
            axis=1,
        )
        radius = np.array([node.radius or 1.0 for _, _, node in pairs])
        numeric = np.array([node.radius is not None for _, _, node in pairs])
        slots = graph.node("Floor", [graph.node("Div", [picked, graph.const(radius, "radius")])])
        keys = graph.node("Where", [graph.const(numeric, "numeric"), slots, picked])
        values = np.array([node.values[i] for _, i, node in pairs])
        matched = graph.node(
            "Cast", [graph.node("Equal", [keys, graph.const(values, "values")])], to=TensorProto.DOUBLE
        )
        owner = np.zeros((n_pairs, n_nodes))
        default = np.zeros((n_nodes, n_pairs))
        for p, (q, i, node) in enumerate(pairs):
            owner[p, q] = 1.0
            if i == node.default:
                default[q, p] = 1.0
        counts = graph.node("MatMul", [matched, graph.const(owner, "owner")])
        none = graph.node(
            "Cast", [graph.node("Equal", [counts, graph.const(0.0)])], to=TensorProto.DOUBLE, hint="none"
        )
        columns.append(graph.node("Add", [matched, graph.node("MatMul", [none, graph.const(default)])]))
        columns.append(none)
        for p, (q, i, _) in enumerate(pairs):
            index[("multiway", q, i)] = width + p
        for q in range(n_nodes):
            index[("none", q, 0)] = width + n_pairs + q
        return width + n_pairs + n_nodes


@dataclass(frozen=True)
class Visit:
    """A node a row may pass: its path, and whether river's ``walk`` reaches it through a ``KeyError``
    (it then yields the node twice)."""

    node: Any
    path: Path
    via_default: bool = False
    default_path: Path = ()


def walk(root: Any, paths: TreePaths) -> Iterator[Visit]:
    """Every node of the tree under ``root`` with the edges of its path, top-down (depth first)."""
    stack = [Visit(root, ())]
    while stack:
        visit = stack.pop()
        yield visit
        node = visit.node
        if isinstance(node, DTBranch):
            stack.extend(reversed(list(_children(node, visit.path, paths))))


def _children(branch: DTBranch, path: Path, paths: TreePaths) -> Iterator[Visit]:
    if paths.column(branch.feature) is None:  # the row has no such feature: river's most common path
        _, child = branch.most_common_path()
        yield Visit(child, path, via_default=True, default_path=path)
        return
    if isinstance(branch, NumericBinaryBranch):
        edges = paths.threshold(branch.feature, branch.threshold)
    elif isinstance(branch, NominalBinaryBranch):
        edges = paths.equals(branch.feature, branch.value)
    elif isinstance(branch, (NominalMultiwayBranch, NumericMultiwayBranch)):
        default, _ = branch.most_common_path()
        keys = [branch._r_mapping[i] for i in range(len(branch.children))]
        radius = branch.radius if isinstance(branch, NumericMultiwayBranch) else None
        edges_, none = paths.multiway(branch.feature, keys, default, radius)
        for i, child in enumerate(branch.children):
            if i == default:
                yield Visit(child, (*path, edges_[i]), via_default=True, default_path=(*path, none))
            else:
                yield Visit(child, (*path, edges_[i]))
        return
    else:
        raise ValueError(f"{type(branch).__name__}: a kind of split the exporter does not know")
    for child, edge in zip(branch.children, edges, strict=True):
        yield Visit(child, (*path, edge))
