"""River pipelines to ONNX, written with ``onnx.helper``: the scorer serves what the learner learned.

One converter per river class (:mod:`~streamloop.worker.learner.export.registry`): preprocessing steps
(:mod:`~streamloop.worker.learner.export.preprocessing`) then one model
(:mod:`~streamloop.worker.learner.export.linear`, ...). The graph takes one float32 input ``input``
``[N, F]`` (columns in ``feature_names`` order) and computes in float64, like river. Outputs (the model
contract, :mod:`streamloop.worker.modelcontract`): ``label`` ``[N]`` and ``probabilities``
``[N, len(classes)]`` for classification; ``variable`` ``[N, 1]`` for regression. A model a converter
cannot write exactly is refused by :func:`check_exportable`, which the learner's config validation runs.

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

from river import compose

from streamloop.worker.learner.export import (  # noqa: F401  (register converters)
    forest,
    linear,
    naive_bayes,
    preprocessing,
    softmax,
    trees,
)
from streamloop.worker.learner.export.graph import Graph
from streamloop.worker.learner.export.registry import (
    PREDICTORS,
    TRANSFORMERS,
    UnsupportedModel,
    supported,
)
from streamloop.worker.learner.models import model_task
from streamloop.worker.modelcontract import ModelMetadata, write_model

__all__ = ["UnsupportedModel", "check_exportable", "model_to_onnx"]


def _steps(model: Any) -> list[Any]:
    return list(model.steps.values()) if isinstance(model, compose.Pipeline) else [model]


def check_exportable(model: Any) -> None:
    """Raise :class:`UnsupportedModel` unless :func:`model_to_onnx` can write ``model`` exactly.

    >>> from river import linear_model, optim, preprocessing
    >>> check_exportable(preprocessing.StandardScaler() | linear_model.LinearRegression())
    >>> check_exportable(linear_model.LinearRegression(loss=optim.losses.Poisson()))
    Traceback (most recent call last):
    ...
    streamloop.worker.learner.export.registry.UnsupportedModel: LinearRegression with Poisson loss: no ...
    """
    steps = _steps(model)
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        converter = (PREDICTORS if last else TRANSFORMERS).get(type(step))
        if converter is None:
            where = " as the last step" if last else ""
            raise UnsupportedModel(f"{type(step).__name__}{where}: {supported()}", i)
        converter.check(step, i)


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
        The input columns, in order; features river never saw are ignored by the model.
    metadata
        String properties (``version``, ``n_trained``, ``created_at``, ``source``, metric values);
        ``feature_names``, ``task`` and ``classes`` are added here.
    classes
        Classification: the labels of the ``probabilities`` columns, in order (for a binary model, the
        labels river's ``False`` and ``True`` stand for).

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
    graph = Graph(feature_names)
    x = graph.x
    for step in steps[:-1]:
        x = TRANSFORMERS[type(step)].emit(step, graph, x)
    head = PREDICTORS[type(steps[-1])].emit(steps[-1], graph, x, classes)
    outputs = (
        graph.classification(head.tensor, classes, head.ties)
        if head.kind == "proba"
        else graph.regression(head.tensor)
    )
    task = model_task(model)
    extra = {key: value for key, value in metadata.items() if key != "version"}
    labels = tuple(classes) if task == "classification" else None
    contract = ModelMetadata(str(metadata["version"]), tuple(feature_names), task, labels, extra)
    return write_model(graph.finish(outputs), contract)
