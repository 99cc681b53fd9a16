"""Trees on a real Pulsar: the loop deployed from ``examples/forest`` (ARF) and ``examples/regression``
(Hoeffding tree regressor), serving the learner's tree models with every prediction naming its version."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnx
import pulsar as pulsar_client
import pytest
from cluster import FUNCTIONS, REPO, Pulsar, wait_for
from test_pulsar_loop import by_id, records
from tree_streams import agrawal_events, friedman_events

from streamloop.tools.demo import read_topic
from streamloop.tools.replay import replay
from streamloop.worker.config import topic

pytestmark = pytest.mark.pulsar


def is_tree_model(payload: bytes) -> bool:
    """The exporter's tree graphs compute each item's reach with ``ReduceMin`` over its path's edges."""
    return any(node.op_type == "ReduceMin" for node in onnx.load_from_string(payload).graph.node)


@pytest.mark.parametrize(
    ("example", "events", "served_shape"),
    [
        (
            "forest",
            agrawal_events,
            lambda p: set(p["proba"]) == {"false", "true"} and isinstance(p["y_pred"], bool),
        ),
        ("regression", friedman_events, lambda p: p["proba"] is None and isinstance(p["y_pred"], float)),
    ],
)
def test_the_deployed_loop_serves_the_learners_tree_models(
    clean: Pulsar, package: Path, example: str, events: Callable[[int], list[dict]], served_shape: Any
) -> None:
    for name in FUNCTIONS:
        clean.deploy(REPO / "examples" / example / f"{name}.yaml", package)
    for name in FUNCTIONS:
        clean.wait_for_status(name, running=1, timeout=240)
    stream = events(2500)
    labels = [{"id": e["id"], "label": e.pop("label")} for e in stream]
    first, second = slice(0, 1500), slice(1500, None)
    client = pulsar_client.Client(clean.service_url)
    try:
        replay(client, stream[first], labels[first], label_delay=50)
        wait_for(lambda: read_topic(client, topic("models")), timeout=300, what="a model from the learner")
        replay(client, stream[second], labels[second], label_delay=50)
        predictions = wait_for(
            lambda: (found := by_id(records(client, "predictions"))) and len(found) == len(stream) and found,
            timeout=300,
            what=f"{len(stream)} predictions",
        )
        models = {
            f"default:{m.properties()['version']}": m.data() for m in read_topic(client, topic("models"))
        }
    finally:
        client.close()
    late = [predictions[e["id"]] for e in stream[-200:]]
    assert {p["model"] for p in late} <= set(models)  # every late prediction names a published version
    assert all(is_tree_model(models[p["model"]]) and served_shape(p) for p in late)
