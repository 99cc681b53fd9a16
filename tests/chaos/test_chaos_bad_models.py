"""Bad models on real Pulsar: published to ``models`` while the scorer serves a good one.

Each is rejected with a reason on ``metrics``; every features record still gets exactly one prediction,
all from the good version until the next good version arrives: no gap, no unscored record. Last, with a
bad model as the newest message on the compacted topic, the scorer is killed: the restarted one serves v2.
"""

from __future__ import annotations

import time

import orjson
import pytest
from books import Books, distinct_ids
from onnx_models import linear_classifier
from stage import Stage, wait_for

from streamloop.tools.demo import T0

pytestmark = [pytest.mark.pulsar, pytest.mark.chaos]

NAMES = ["x0", "x1"]
MAX_MODEL_BYTES = 100_000  # the scorer's configured limit in this scenario
PER_PHASE = 40


def good(version: str) -> bytes:
    return linear_classifier(NAMES, [1.5, -2.0], 0.1, version=version)


def bad_models() -> list[tuple[str, bytes, str]]:
    """``(what, payload, reason prefix)`` for each kind of model the scorer must refuse (all but the
    unsigned one signed with the scorer's key)."""
    valid = good("bad")
    return [
        ("unsigned", good("unsigned"), "signature: unsigned"),
        ("truncated", valid[: len(valid) // 2], "onnx:"),
        ("not ONNX", b"\x80\x04\x95 a pickle, not a model", "onnx:"),
        ("wrong input width", linear_classifier(NAMES, [1.0, 1.0], version="w", input_width=3), "input:"),
        ("other feature names", linear_classifier(["a", "b"], [1.0, 1.0], version="n"), "feature_names:"),
        ("NaN output", linear_classifier(NAMES, [1.0, 1.0], version="nan", output_nan=True), "probe:"),
        (
            "over the size limit",
            linear_classifier(NAMES, [1.0, 1.0], version="big", metadata={"pad": "x" * 10 * MAX_MODEL_BYTES}),
            "size:",
        ),
    ]


def features(start: int, n: int) -> list[tuple[str, bytes]]:
    records = []
    for i in range(start, start + n):
        x = {"x0": (i % 17) / 17, "x1": (i % 5) / 5}
        records.append((f"f{i:05d}", orjson.dumps({"id": f"f{i:05d}", "key": "k", "ts": T0 + i, "x": x})))
    return records


def rejections(stage: Stage) -> list[dict]:
    return [r for r in map(orjson.loads, stage.payloads("metrics")) if r.get("event") == "rejection"]


def test_bad_models_are_rejected_and_the_good_one_keeps_serving(stage: Stage, report) -> None:
    started = time.monotonic()
    feats = stage.producer("features")
    stage.publish_model(good("1"))
    sent, expected_reasons = 0, []
    for i, (what, payload, reason) in enumerate([*bad_models(), ("good v2", good("2"), "")]):
        for key, record in features(sent, PER_PHASE):
            feats.send(record, partition_key=key)
        sent += PER_PHASE
        if i == 0:  # the scorer starts on a backlog (its model feed once deadlocked there)
            stage.deploy(["scorer"], user_config={"scorer": {"max_model_bytes": MAX_MODEL_BYTES}})
        wait_for(
            lambda n=sent: len(distinct_ids(stage.payloads("predictions"))) == n, 60, f"{sent} predictions"
        )
        n = len(expected_reasons)  # the scorer validates a model when the next record arrives
        wait_for(lambda n=n: len(rejections(stage)) == n, 60, f"{n} rejections")
        stage.publish_model(payload, signed=what != "unsigned")
        if reason:
            expected_reasons.append((what, reason))
    v2_published_at = sent
    for key, record in features(sent, PER_PHASE):  # after good v2
        feats.send(record, partition_key=key)
    sent += PER_PHASE
    wait_for(lambda: len(distinct_ids(stage.payloads("predictions"))) == sent, 60, f"{sent} predictions")
    # The compacted topic's newest model is now a bad one; a scorer killed now must still serve v2.
    what, payload, reason = bad_models()[1]  # truncated
    stage.publish_model(payload)
    expected_reasons.append((what, reason))
    wait_for(lambda: stage.instance_pids("scorer"), 30, "the scorer's instance process")
    stage.wait_restarted("scorer", stage.kill("scorer"))
    for key, record in features(sent, PER_PHASE):  # after the restart
        feats.send(record, partition_key=key)
    sent += PER_PHASE
    predictions = wait_for(
        lambda: (found := distinct_ids(stage.payloads("predictions"))) and len(found) == sent and found,
        60,
        f"{sent} predictions",
    )
    served = [predictions[f"f{i:05d}"]["model"] for i in range(sent)]
    switch = served.index("default:2")  # the first prediction of v2
    assert set(served[:switch]) == {"default:1"}, "a gap: a record not scored by the serving model"
    assert set(served[switch:]) == {"default:2"}
    assert switch >= v2_published_at, "v2 served before it was published"
    found = rejections(stage)
    for (what, reason), record in zip(expected_reasons[:-1], found[:-1], strict=True):
        assert record["reason"].startswith(reason), (what, record["reason"])
        assert record["serving"] == "default:1", (what, record)
    assert found[-1]["serving"] == "default:2", "the restarted scorer lost its last good model"

    books = Books.from_topics(
        events_in=sent,
        predictions=stage.payloads("predictions"),
        dead_letters=stage.dead_letters(),
        metrics=stage.payloads("metrics"),
    )
    books.check(through="scorer")
    assert books.model_rejections == len(expected_reasons) and not books.dead_letters
    health = stage.instances_ok()
    books.notes = {
        "rejections": {what: r["reason"][:160] for (what, _), r in zip(expected_reasons, found, strict=True)},
        "instances": health,
        "seconds": round(time.monotonic() - started, 1),
    }
    report.add("bad_models", books.as_json())
    assert health["scorer"] == {"running": 1, "restarts": 1, "system_exceptions": 0, "user_exceptions": 0}
