"""Promotion: margin, schedule, cold start, drift (reset or keep), and recovery on a drifting river stream."""

from __future__ import annotations

import collections
import itertools

import numpy as np
import onnxruntime as ort
import orjson
import pytest
from river import datasets, drift, evaluate, metrics

from streamloop.runtime.testing import FunctionHarness
from streamloop.worker.config import topic
from streamloop.worker.learner import LearnerFunction, PromotionConfig, PromotionPolicy, build_model
from streamloop.worker.learner.models import ModelSpec, pure_inference_mode


def policy(**settings) -> PromotionPolicy:
    config = PromotionConfig(**{"min_samples": 10, "window": 50, "every_n": 0, **settings})
    return PromotionPolicy(metrics.Accuracy(), drift.ADWIN(), config, "classification")


def feed(p: PromotionPolicy, n: int, champion_right: bool, challenger_right: bool, model="m:1") -> list:
    events = []
    for i in range(n):
        y = i % 2 == 0
        events.append(p.observe(y, model, y if champion_right else not y, y if challenger_right else not y))
        p.learned()
        events.append(p.decide())
    return events


def test_margin_needs_min_samples_and_restarts_after_a_promotion():
    p = policy(margin=0.05)
    decisions = feed(p, 9, champion_right=False, challenger_right=True)
    assert all(d is None or d.drift is False for d in decisions[::2]) and set(decisions[1::2]) == {None}
    assert feed(p, 1, champion_right=False, challenger_right=True)[-1] == "margin"
    p.promoted("m:2")
    assert p.decide() is None and p.paired == 0


def test_no_promotion_without_a_clear_win():
    p = policy(margin=0.05)
    assert set(feed(p, 200, champion_right=True, challenger_right=True)[1::2]) == {None}


def test_schedule_and_cold_start():
    p = policy(every_n=25, margin=1.0)
    assert feed(p, 25, True, True)[-1] == "schedule"
    cold = policy()
    decisions = feed(cold, 10, True, True, model=None)
    assert decisions[-1] == "cold_start" and set(decisions[1:-1:2]) == {None}
    cold.promoted("m:1")
    assert set(feed(cold, 50, True, True, model=None)[1::2]) == {None}  # once, until the model serves


@pytest.mark.parametrize("on_drift", ["reset", "keep"])
def test_drift_on_the_champion_error(on_drift):
    p = policy(on_drift=on_drift, margin=0.5)
    feed(p, 300, champion_right=True, challenger_right=True)
    events = feed(p, 200, champion_right=False, challenger_right=True)
    drifts = [e for e in events[::2] if e.drift]
    assert drifts
    first = events.index(drifts[0])
    if on_drift == "reset":
        assert drifts[0].reset and not any(d.reset for d in drifts[1:])  # once, until the next promotion
        decisions = events[first + 1 :: 2]
        # the fresh challenger needs min_samples post-drift examples, then wins without the margin
        assert decisions[:9] == [None] * 9 and decisions[9] == "drift"
    else:
        assert not drifts[0].reset and events[first + 1] == "drift"


EXAMPLES, MODELS, METRICS = topic("examples"), topic("models"), topic("metrics")


def sine_with_drift(n: int, drift_at: int, seed: int = 7) -> list[tuple[dict, bool]]:
    stream = datasets.synth.ConceptDriftStream(
        stream=datasets.synth.Sine(classification_function=0, seed=seed),
        drift_stream=datasets.synth.Sine(classification_function=1, seed=seed + 1),
        position=drift_at,
        width=10,
        seed=seed + 2,
    )
    return [({"x0": x[0], "x1": x[1]}, bool(y)) for x, y in itertools.islice(stream, n)]


def test_the_loop_recovers_from_drift_like_river_itself():
    """Scorer and joiner simulated: each event is scored by the last published ONNX, labels come late."""
    n, drift_at, delay = 3000, 1500, 50
    data = sine_with_drift(n, drift_at)
    h = FunctionHarness(
        LearnerFunction,
        user_config={"promotion": {"min_samples": 100, "every_n": 500, "margin": 0.01}},
        inputs=[EXAMPLES],
        output=MODELS,
    )
    served, seen, pending, correct = None, 0, collections.deque(), []
    for i, (x, y) in enumerate(data):
        models = h.messages(MODELS)
        if len(models) > seen:
            seen, latest = len(models), models[-1]
            session = ort.InferenceSession(latest.payload, providers=["CPUExecutionProvider"])
            served = (
                session,
                f"default:{latest.properties['version']}",
                orjson.loads(latest.properties["classes"]),
            )
        y_pred, model = None, None
        if served:
            session, model, classes = served
            _, proba = session.run(None, {"input": np.array([[x["x0"], x["x1"]]], dtype=np.float32)})
            y_pred = classes[int(np.argmax(proba[0]))]
        correct.append(y_pred == y)
        pending.append(
            {"id": f"e{i}", "ts": i, "x": x, "y": y, "y_pred": y_pred, "proba": None, "model": model}
        )
        if len(pending) > delay:
            h.send(pending.popleft())

    events = [r for r in h.records(METRICS) if r["event"] in ("drift", "promotion")]
    drifts = [int(r["id"][1:]) for r in events if r["event"] == "drift"]
    assert drifts and drift_at < drifts[0] < drift_at + 300
    after = [r for r in events if r["event"] == "promotion" and int(r["id"][1:]) > drifts[0]]
    assert after[0]["reason"] == "drift"

    spec = ModelSpec.model_validate(h.function.config.model.model_dump(by_alias=True))
    static = build_model(spec)
    for x, y in data[: n // 4]:
        static.learn_one(x, y)
    with pure_inference_mode():
        static_correct = [static.predict_one(x) == y for x, y in data]
    steps = evaluate.iter_progressive_val_score(
        data, build_model(spec), metrics.Accuracy(), delay=delay, step=1, yield_predictions=True
    )
    reference = [step["Prediction"] == y for step, (_, y) in zip(steps, data, strict=True)]
    last = slice(3 * n // 4, n)

    def accuracy(flags):
        return 100 * sum(flags[last]) / len(flags[last])

    assert accuracy(correct) >= accuracy(static_correct) + 10
    assert abs(accuracy(correct) - accuracy(reference)) <= 3
