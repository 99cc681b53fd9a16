"""The library-chain ceiling does the loop's ML work: the embedded loop's predictions and models."""

from __future__ import annotations

from pathlib import Path

import orjson

from streamloop.tools.bench.ceiling import Chain
from streamloop.tools.bench.embedded import topic_messages
from streamloop.tools.bench.workload import Workload

CONFIG_DIR = Path(__file__).resolve().parents[1] / "pulsar-config"


def test_the_chain_makes_the_embedded_loops_predictions_and_models() -> None:
    workload = Workload.demo(1200, CONFIG_DIR)
    chain = Chain(workload)
    loop = topic_messages(workload)
    predictions = [orjson.loads(payload) for _, payload, _ in loop["predictions"]]
    assert [(p["model"], p["y_pred"], p["proba"]) for p in predictions] == chain.trace.predictions
    assert len(chain.trace.promotions) == len(loop["models"]) > 1
    assert len(chain.trace.swaps) == len({p["model"] for p in predictions} - {None})
    assert len(chain.trace.flushes) == len(workload) // workload.features.state_flush_every
    assert len(chain.trace.checkpoints) == len(workload) // workload.learner.checkpoint_every
    for step in chain.steps.values():  # the breakdown replays each step from the trace
        step()
