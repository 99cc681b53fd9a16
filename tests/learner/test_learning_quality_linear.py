"""Learning quality of a linear regressor: the learner's served models as good as river's own evaluation.

``MinMaxScaler | PARegressor`` on river's ``synth.FriedmanDrift`` (global abrupt drift, twice), labels 50
examples late. The scorer is simulated (each example is predicted by the last published ONNX); the MAE of
the served predictions is within 2 % of river's ``evaluate.progressive_val_score`` with the same delay.
"""

from __future__ import annotations

import collections
import itertools

import numpy as np
import onnxruntime as ort
from river import datasets, evaluate, metrics

from streamloop.runtime.testing import FunctionHarness
from streamloop.worker.config import topic
from streamloop.worker.learner import LearnerFunction, build_model

EXAMPLES, MODELS = topic("examples"), topic("models")
MODEL = {
    "steps": [
        {"class": "preprocessing.MinMaxScaler"},
        {"class": "linear_model.PARegressor", "params": {"C": 0.1}},
    ]
}


def friedman_drift(n: int, seed: int = 42) -> list[tuple[dict[str, float], float]]:
    stream = datasets.synth.FriedmanDrift(drift_type="gra", position=(n // 3, 2 * n // 3), seed=seed)
    return [({f"x{k}": v for k, v in x.items()}, y) for x, y in itertools.islice(stream, n)]


def served_errors(h: FunctionHarness, data: list[tuple[dict, float]], delay: int) -> list[float]:
    """Absolute errors of the served predictions (0 before the first model) while the learner learns."""
    names = list(data[0][0])
    session, model, seen, pending, errors = None, None, 0, collections.deque(), []
    for i, (x, y) in enumerate(data):
        if len(models := h.messages(MODELS)) > seen:
            seen, latest = len(models), models[-1]
            session = ort.InferenceSession(latest.payload, providers=["CPUExecutionProvider"])
            model = f"default:{latest.properties['version']}"
        y_pred = None
        if session is not None:
            (value,) = session.run(None, {"input": np.array([[x[f] for f in names]], dtype=np.float32)})
            y_pred = float(value[0, 0])
        errors.append(abs(y - (y_pred or 0.0)))
        pending.append(
            {"id": f"e{i}", "ts": i, "x": x, "y": y, "y_pred": y_pred, "proba": None, "model": model}
        )
        if len(pending) > delay:
            h.send(pending.popleft())
    return errors


def test_pa_regressor_mae_within_two_percent_of_river_on_friedman_drift():
    n, delay, warm_up = 2000, 50, 200
    data = friedman_drift(n)
    h = FunctionHarness(
        LearnerFunction,
        user_config={"model": MODEL, "promotion": {"min_samples": 50, "every_n": 50, "margin": 0.0}},
        inputs=[EXAMPLES],
        output=MODELS,
    )
    loop = served_errors(h, data, delay)
    steps = evaluate.iter_progressive_val_score(
        data, build_model(h.function.config.model), metrics.MAE(), delay=delay, step=1, yield_predictions=True
    )
    river = [abs(y - (step.get("Prediction") or 0.0)) for step, (_, y) in zip(steps, data, strict=True)]
    loop_mae, river_mae = np.mean(loop[warm_up:]), np.mean(river[warm_up:])
    assert loop_mae <= 1.02 * river_mae, (loop_mae, river_mae)
