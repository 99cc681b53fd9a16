"""The loop's served quality on the embedded learner, beside river's own ``progressive_val_score``.

The scorer and joiner are simulated: each event is scored by the last ONNX model the learner published,
and its example (with the served prediction) reaches the learner ``delay`` events later.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnxruntime as ort
import orjson
from river import evaluate

from streamloop.runtime.testing import FunctionHarness
from streamloop.worker.config import topic
from streamloop.worker.learner import LearnerFunction, build_model
from streamloop.worker.learner.models import ModelSpec

EXAMPLES, MODELS = topic("examples"), topic("models")


def served_and_river(
    steps: list[dict],
    data: Sequence[tuple[dict, Any]],
    delay: int,
    every_n: int,
    metric: Any,
    start: int,
    classes: list[Any] | None = None,
) -> tuple[float, float]:
    """``metric`` of the loop's served predictions and of river's in-process evaluation (with ``delay``),
    over the events from ``start`` on (after the cold start)."""
    learner = FunctionHarness(
        LearnerFunction,
        user_config={
            "model": {"steps": steps},
            "drift": {"class": "drift.NoDrift"},  # compare the model's own learning, not the policy's resets
            "promotion": {"min_samples": 50, "every_n": every_n},
            "checkpoint_every": 1000,
            # a classifier learns its labels themselves: name them (booleans unless given)
            **({"classes": classes or [False, True]} if classes or isinstance(data[0][1], bool) else {}),
        },
        inputs=[EXAMPLES],
        output=MODELS,
    )
    names = list(data[0][0])
    served, seen, pending = None, 0, collections.deque()
    loop_metric = metric.clone()
    for i, (x, y) in enumerate(data):
        models = learner.messages(MODELS)
        if len(models) > seen:
            seen, latest = len(models), models[-1]
            session = ort.InferenceSession(latest.payload, providers=["CPUExecutionProvider"])
            classes = orjson.loads(latest.properties.get("classes", "null"))
            served = (session, f"default:{latest.properties['version']}", classes)
        y_pred, model = None, None
        if served:
            session, model, classes = served
            out = session.run(None, {"input": np.array([[x[f] for f in names]], dtype=np.float32)})
            y_pred = classes[int(np.argmax(out[1][0]))] if classes else float(out[0][0, 0])
        if i >= start:
            loop_metric.update(y, y_pred)
        pending.append(
            {"id": f"e{i}", "ts": i, "x": x, "y": y, "y_pred": y_pred, "proba": None, "model": model}
        )
        if len(pending) > delay:
            learner.send(pending.popleft())
    reference = build_model(ModelSpec.model_validate({"steps": steps}))
    river_metric = metric.clone()
    steps_ = evaluate.iter_progressive_val_score(
        data, reference, metric.clone(), delay=delay, step=1, yield_predictions=True
    )
    for i, (step, (_, y)) in enumerate(zip(steps_, data, strict=True)):
        if i >= start:
            river_metric.update(y, step["Prediction"])
    return loop_metric.get(), river_metric.get()
