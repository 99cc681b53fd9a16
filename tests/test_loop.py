"""The whole loop on the embedded runner: the demo's promises."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from streamloop.runtime.runner import Runner
from streamloop.tools.demo import drifting_stream, read_topic, run_demo
from streamloop.tools.replay import replay
from streamloop.worker.config import topic

CONFIG_DIR = Path(__file__).resolve().parents[1] / "pulsar-config"


@pytest.fixture(scope="module")
def demo():
    return run_demo(CONFIG_DIR, n=4000, label_delay=50, progress=False)


def test_every_event_gets_one_prediction_and_every_label_one_example(demo):
    summary = demo.summary
    assert summary["events"] == summary["predictions"] == summary["examples"] == 4000


def test_the_loop_recovers_after_drift_where_a_static_model_does_not(demo):
    last = demo.summary["segments"][-1]
    assert last["loop_acc"] >= last["static_acc"] + 10
    assert abs(last["loop_acc"] - last["reference_acc"]) <= 3
    before = demo.summary["segments"][1]
    assert before["loop_acc"] > 90 and before["static_acc"] > 90  # both fine before the drift


def test_drift_is_detected_after_it_happens_and_a_post_drift_model_is_promoted(demo):
    drift_at = demo.summary["drift_at"]
    detected = [d for d in demo.summary["drift_detected_at"] if d is not None]
    assert detected and drift_at <= detected[0] < drift_at + 500
    after = [p for p in demo.summary["promotions"] if p["at"] and p["at"] > detected[0]]
    assert after and after[0]["at"] < drift_at + 1000


def test_the_loop_is_deterministic_on_the_embedded_runner(demo):
    again = run_demo(CONFIG_DIR, n=4000, label_delay=50, progress=False)
    assert again.loop_correct == demo.loop_correct
    assert again.summary["promotions"] == demo.summary["promotions"]


def test_a_crashed_learner_ends_with_the_model_of_an_uncrashed_run():
    def final_model(crash_every: int | None) -> bytes:
        runner = Runner.from_directory(CONFIG_DIR)
        runner.start()
        pairs = list(drifting_stream(1500, 750, seed=7))
        sent = 0

        def pump(kind: str, record: dict) -> None:
            nonlocal sent
            runner.pump()
            sent += 1
            if crash_every and sent % crash_every == 0:
                runner.restart("learner")
                runner.pump()

        replay(runner.client, (e for e, _ in pairs), (lbl for _, lbl in pairs), label_delay=30, on_sent=pump)
        runner.pump()
        models = read_topic(runner.client, topic("models"))
        state = runner.instance("learner").function.state
        weights = dict(state.model["LogisticRegression"].weights)
        runner.stop()
        assert models
        return orjson.dumps(weights, option=orjson.OPT_SORT_KEYS)

    assert final_model(crash_every=None) == final_model(crash_every=377)
