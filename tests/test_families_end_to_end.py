"""Every model family through the whole embedded loop: features → scorer → joiner → learner → scorer.

The learner learns the family, exports it to ONNX, and the scorer serves it: predictions name a published
version and carry what the task promises (probabilities keyed by class, or a value).
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from cli_run import REPO
from loops import replay_through
from tree_streams import friedman_events

from streamloop.runtime.runner import Runner
from streamloop.tools.demo import drifting_stream, read_topic
from streamloop.worker.config import topic

N = 800
MINMAX = {"class": "preprocessing.MinMaxScaler"}
SCALER = {"class": "preprocessing.StandardScaler"}
BOOLS = [False, True]

CLASSIFIERS = {
    "pa_classifier": ([MINMAX, {"class": "linear_model.PAClassifier"}], None),
    "perceptron": ([SCALER, {"class": "linear_model.Perceptron"}], None),
    "alma": ([{"class": "linear_model.ALMAClassifier"}], None),
    "softmax": ([SCALER, {"class": "linear_model.SoftmaxRegression"}], BOOLS),
    "gaussian_nb": ([{"class": "naive_bayes.GaussianNB"}], BOOLS),
    "adaptive_tree": (
        [{"class": "tree.HoeffdingAdaptiveTreeClassifier", "params": {"leaf_prediction": "mc", "seed": 1}}],
        BOOLS,
    ),
}
REGRESSORS = {
    "pa_regressor": [MINMAX, {"class": "linear_model.PARegressor"}],
    "bayesian_linear": [{"class": "linear_model.BayesianLinearRegression"}],
    "arf_regressor": [
        {"class": "forest.ARFRegressor", "params": {"n_models": 3, "aggregation_method": "mean"}}
    ],
}


def run(config_dir, learner: dict[str, Any], pairs) -> list[dict]:
    """The predictions of ``pairs`` through the whole loop of ``config_dir``, the learner configured."""
    runner = Runner.from_directory(config_dir, user_config={"learner": learner})
    runner.start()
    replay_through(runner, pairs, label_delay=50)
    predictions = [orjson.loads(m.data()) for m in read_topic(runner.client, topic("predictions"))]
    runner.stop()
    return predictions


@pytest.mark.parametrize("name", sorted(CLASSIFIERS))
def test_a_classifier_family_is_served_through_the_loop(name):
    steps, classes = CLASSIFIERS[name]
    learner = {"model": {"steps": steps}, "promotion": {"every_n": 100, "min_samples": 50}}
    if classes:
        learner["classes"] = classes
    predictions = run(REPO / "pulsar-config", learner, list(drifting_stream(N, N // 2)))
    served = [p for p in predictions if p["model"] is not None]
    assert len(predictions) == N and len(served) > N // 2, (len(predictions), len(served))
    assert all(set(p["proba"]) == {"false", "true"} and isinstance(p["y_pred"], bool) for p in served)


@pytest.mark.parametrize("name", sorted(REGRESSORS))
def test_a_regressor_family_is_served_through_the_loop(name):
    learner = {"model": {"steps": REGRESSORS[name]}, "promotion": {"every_n": 100, "min_samples": 50}}
    events = friedman_events(N)
    pairs = [
        ({k: v for k, v in e.items() if k != "label"}, {"id": e["id"], "label": e["label"]}) for e in events
    ]
    predictions = run(REPO / "examples" / "regression", learner, pairs)
    served = [p for p in predictions if p["model"] is not None]
    assert len(predictions) == N and len(served) > N // 2, (len(predictions), len(served))
    assert all(p["proba"] is None and isinstance(p["y_pred"], float) for p in served)
