"""Keys under parallelism on real Pulsar: features and scorer with ``parallelism: 2`` (Key_Shared on the
entity key for features, Shared for the scorer) give the same per-key window aggregates and the same
predictions as one instance each."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from books import Books, distinct_ids
from corpus import build
from onnx_models import linear_classifier
from stage import Stage, wait_for

pytestmark = [pytest.mark.pulsar, pytest.mark.chaos]

FEATURE_NAMES = ["x0", "x1", "channel=web", "channel=app", "channel=pos", "events_1h", "x0_mean_1h"]
N_EVENTS = 600
MODEL = linear_classifier(FEATURE_NAMES, [1.0, -1.0, 0.2, -0.2, 0.1, 0.01, 0.5], version="fixed")


def score(stage: Stage, parallelism: int) -> tuple[dict[str, dict], Books]:
    """Deploy features and scorer with ``parallelism`` instances, send the events, read the predictions."""
    stage.publish_model(MODEL)
    parallel = {"parallelism": parallelism}
    stage.deploy(["features", "scorer"], function_config={"features": parallel, "scorer": parallel})
    corpus = build(n_good=N_EVENTS, bad=False)
    events = [i for i in corpus.items if i.kind == "event"]
    stage.send_items(events)
    predictions = wait_for(
        lambda: (
            (found := distinct_ids(stage.payloads("predictions"))) and len(found) == len(events) and found
        ),
        240,
        f"{len(events)} predictions with parallelism {parallelism}",
    )
    books = Books.from_topics(
        events_in=len(events),
        predictions=stage.payloads("predictions"),
        dead_letters=stage.dead_letters(),
        metrics=[],
    )
    books.check(through="scorer")
    return predictions, books


def test_parallelism_2_gives_the_same_aggregates_and_predictions(
    stage: Stage, pulsar, package: Path, tmp_path: Path, report
) -> None:
    started = time.monotonic()
    two, books = score(stage, 2)
    single = Stage(pulsar, package, tmp_path, f"chaos{uuid.uuid4().hex[:8]}")
    try:
        one, _ = score(single, 1)
    finally:
        single.close()
    assert {p["model"] for p in two.values()} == {"default:fixed"}
    differ = [i for i in one if (one[i]["x"], one[i]["proba"]) != (two[i]["x"], two[i]["proba"])]
    per_instance = {
        name: [i["status"]["numSuccessfullyProcessed"] for i in stage.pulsar.status(name)["instances"]]
        for name in ("features", "scorer")
    }
    books.notes = {
        "differing_ids": len(differ),
        "processed_per_instance": per_instance,
        "seconds": round(time.monotonic() - started, 1),
    }
    report.add("parallelism", books.as_json())
    assert not differ, [(i, one[i], two[i]) for i in differ[:3]]
    for name, counts in per_instance.items():
        assert len(counts) == 2 and all(counts), f"{name}: both instances must have worked: {counts}"
