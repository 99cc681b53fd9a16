"""The fused features-and-scorer function (``examples/fused``): the loop of three functions predicts and
learns exactly what the loop of four does (``pulsar-config``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import yaml
from loops import replay_through

from streamloop.runtime.runner import Runner
from streamloop.tools.demo import drifting_stream, read_topic
from streamloop.worker.config import parse_user_config, topic
from streamloop.worker.fused import FeaturesScorerConfig
from streamloop.worker.metricnames import USER_METRICS

REPO = Path(__file__).resolve().parents[1]
FOUR, FUSED = REPO / "pulsar-config", REPO / "examples" / "fused"


def user_config(path: Path) -> dict:
    return yaml.safe_load(path.read_text())["userConfig"]


def messages(runner: Runner, name: str) -> list[tuple[str, bytes]]:
    return [(m.partition_key(), m.data()) for m in read_topic(runner.client, topic(name))]


def run_loop(config_dir: Path, overrides: dict | None = None) -> Runner:
    runner = Runner.from_directory(config_dir, user_config=overrides)
    replay_through(runner, list(drifting_stream(2500, 1200, seed=3)), label_delay=40)
    return runner


@pytest.fixture(scope="module")
def four():
    runner = run_loop(FOUR)
    yield runner
    runner.stop()


@pytest.fixture(scope="module")
def fused():
    runner = run_loop(FUSED)
    yield runner
    runner.stop()


def test_the_fused_loop_publishes_the_predictions_and_examples_of_the_four_function_loop(four, fused):
    predictions = messages(fused, "predictions")
    assert len(predictions) == 2500 and predictions == messages(four, "predictions")
    assert messages(fused, "examples") == messages(four, "examples")
    served = {orjson.loads(payload)["model"] for _, payload in predictions}
    assert len(served - {None}) >= 2  # scored by the models the learner promoted, hot-swapped


def test_it_publishes_no_feature_records_unless_features_topic_is_set(four, fused):
    assert messages(fused, "features") == []
    runner = run_loop(FUSED, {"features-scorer": {"features_topic": topic("features")}})
    assert messages(runner, "features") == messages(four, "features")
    assert messages(runner, "predictions") == messages(four, "predictions")
    runner.stop()


def test_the_fused_function_records_only_documented_metric_names(fused):
    recorded = {(function, name) for function, metrics in fused.metrics.items() for name in metrics.count}
    assert ("features-scorer", "models_loaded") in recorded
    for function, name in recorded:
        assert function in USER_METRICS[name].functions, (function, name)


def test_its_user_config_is_the_features_and_scorer_keys_moved_over():
    features, scorer = user_config(FOUR / "features.yaml"), user_config(FOUR / "scorer.yaml")
    assert user_config(FUSED / "features-scorer.yaml") == {**features, **scorer}  # batching: the scorer's


def test_unknown_keys_are_refused_naming_the_key():
    with pytest.raises(ValueError, match=r"userConfig\.labels_topic: unknown key"):
        parse_user_config(
            FeaturesScorerConfig,
            {**user_config(FUSED / "features-scorer.yaml"), "labels_topic": "x"},
            source="f.yaml",
        )


def test_validate_accepts_the_fused_loop_directory():
    result = subprocess.run(
        [sys.executable, "-m", "streamloop", "validate", str(FUSED)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 file(s) OK: features-scorer.yaml, joiner.yaml, learner.yaml" in result.stdout
