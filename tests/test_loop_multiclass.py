"""A multiclass model through the whole embedded loop, with string labels: features → scorer → joiner →
learner → scorer, against river's own ``progressive_val_score`` with the same model and label delay."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from river import datasets, evaluate, metrics

from streamloop.runtime.runner import Runner
from streamloop.tools.demo import T0, read_topic
from streamloop.tools.replay import replay
from streamloop.tools.report import draw, summarize, write_html
from streamloop.tools.runlog import RunLog
from streamloop.worker.config import topic
from streamloop.worker.learner.models import build_model
from streamloop.worker.messages import read_example, read_metric_record, read_prediction

CONFIG_DIR = Path(__file__).resolve().parents[1] / "pulsar-config"
N, DELAY, N_FEATURES = 3000, 50, 4
CLASSES = ["circle", "square", "star", "cross"]
LEARNER = {
    "model": {
        "steps": [
            {"class": "preprocessing.StandardScaler"},
            {
                "class": "linear_model.SoftmaxRegression",
                "params": {"optimizer": {"class": "optim.SGD", "params": {"lr": 0.05}}},
            },
        ]
    },
    "classes": CLASSES,
    "metric": {"class": "metrics.MacroF1"},
    "promotion": {"window": 200, "margin": 0.0, "min_samples": 20, "every_n": 10, "on_drift": "reset"},
    "metrics_every": 250,
    "checkpoint_every": 200,
}
FEATURES = {"features": [{"name": f"x{i}", "kind": "numeric", "field": f"x{i}"} for i in range(N_FEATURES)]}


def rbf_stream(n: int, seed: int = 3) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """``(event, label)`` pairs of river's ``RandomRBFDrift`` (moving centroids), labels as strings."""
    stream = datasets.synth.RandomRBFDrift(
        seed_model=seed,
        seed_sample=seed + 1,
        n_classes=len(CLASSES),
        n_features=N_FEATURES,
        n_centroids=8,
        change_speed=0.001,
        n_drift_centroids=8,
    )
    pairs = []
    for i, (x, y) in enumerate(itertools.islice(stream, n)):
        event_id, ts = f"e{i:06d}", T0 + i
        event = {"id": event_id, "key": f"k{i % 7}", "ts": ts, **{f"x{j}": v for j, v in x.items()}}
        pairs.append((event, {"id": event_id, "label": CLASSES[y], "ts": ts + 0.5}))
    return pairs


@pytest.fixture(scope="module")
def loop() -> dict[str, Any]:
    return run_loop(N)


def run_loop(n: int) -> dict[str, Any]:
    """Replay ``n`` events and their labels through the embedded loop; what its topics hold after."""
    pairs = rbf_stream(n)
    runner = Runner.from_files(
        sorted(CONFIG_DIR.glob("*.yaml")), user_config={"learner": LEARNER, "features": FEATURES}
    )
    runner.start()
    replay(
        runner.client,
        (e for e, _ in pairs),
        (label for _, label in pairs),
        label_delay=DELAY,
        on_sent=lambda kind, record: runner.pump(),
    )
    runner.pump()
    client = runner.client
    predictions = {
        p["id"]: p for m in read_topic(client, topic("predictions")) if (p := read_prediction(m.data()))
    }
    examples = [read_example(m.data()) for m in read_topic(client, topic("examples"))]
    records = [r for m in read_topic(client, topic("metrics")) if (r := read_metric_record(m.data()))]
    model = build_model(runner.user_config("learner").model)
    runner.stop()
    return {
        "pairs": pairs,
        "predictions": predictions,
        "examples": examples,
        "metrics": records,
        "model": model,
    }


def test_a_multiclass_model_is_served_with_proba_keyed_by_every_class(loop):
    served = [p for p in loop["predictions"].values() if p["model"] is not None]
    assert len(loop["predictions"]) == N and len(served) > N - 200
    for prediction in served:
        assert list(prediction["proba"]) == CLASSES
        assert prediction["y_pred"] in CLASSES
        assert prediction["y_pred"] == max(prediction["proba"], key=prediction["proba"].get)
    truth = {label["id"]: label["label"] for _, label in loop["pairs"]}
    assert {e["y"] for e in loop["examples"]} == set(CLASSES)
    assert all(e["y"] == truth[e["id"]] for e in loop["examples"])
    windows = [r for r in loop["metrics"] if r["event"] == "window"]
    assert windows and all(0.0 <= r["macro_f1"] <= 1.0 for r in windows)
    assert any(r["event"] == "promotion" for r in loop["metrics"])


def test_the_report_shows_the_multiclass_metric(loop, tmp_path):
    summary = summarize(RunLog(loop["metrics"], {}))
    assert summary.metric == "macro_f1" and summary.served and summary.counts["promotions"] > 0
    page = write_html(summary, draw(summary, tmp_path / "run.png"), tmp_path / "run.html").read_text()
    assert "mean macro_f1" in page and "default:challenger" in page


def served_and_reference_accuracy(loop: dict[str, Any]) -> tuple[float, float]:
    """The loop's and river's accuracy, from the first served prediction on (before it: ``model: null``)."""
    pairs, predictions = loop["pairs"], loop["predictions"]
    xs = [predictions[e["id"]]["x"] for e, _ in pairs]
    truth = [label["label"] for _, label in pairs]
    steps = evaluate.iter_progressive_val_score(
        zip(xs, truth, strict=True),
        loop["model"],
        metrics.Accuracy(),
        delay=DELAY,
        step=1,
        yield_predictions=True,
    )
    reference = [step["Prediction"] for step in steps]
    assert len(reference) == len(pairs)
    served = [predictions[e["id"]]["y_pred"] for e, _ in pairs]
    start = next(i for i, (e, _) in enumerate(pairs) if predictions[e["id"]]["model"] is not None)
    assert start < 200
    scored = len(pairs) - start

    def accuracy(predicted: list[Any]) -> float:
        return sum(p == y for p, y in zip(predicted[start:], truth[start:], strict=True)) / scored

    return accuracy(served), accuracy(reference)


def test_the_loop_is_within_one_accuracy_point_of_river(loop):
    served, reference = served_and_reference_accuracy(loop)
    assert abs(served - reference) <= 0.01, (served, reference)
