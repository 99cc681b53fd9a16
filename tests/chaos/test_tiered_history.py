"""Event-sourced features on real Pulsar, from tiered storage (docs/history.md): the history is offloaded to
the standalone's filesystem tier and its BookKeeper copies deleted; a new reader gets every message back from
the tier, in order, byte for byte; ``streamloop rebuild`` recomputes the features with a changed spec from
it; the features function deployed with that spec computes the same values; a model trained on the rebuilt
set serves those features; and a learner fed the rebuilt examples learns each exactly once.

Not a fault scenario: it runs in ``make test`` only.
"""

from __future__ import annotations

import orjson
import pytest
import yaml
from checkpoints import learned, load_checkpoint
from cli_run import ok, streamloop
from cluster import bookkeeper_has_ledger, offload_everything
from stage import CONFIG_DIR, Stage, wait_for

from streamloop.tools.demo import drifting_stream

pytestmark = [pytest.mark.pulsar]

EVENTS = 300
NEW_FEATURE = {"name": "x1_std_1h", "kind": "window", "agg": "std", "field": "x1", "window": 3600}
CHECKPOINT_EVERY = 10


def history() -> tuple[list[dict], list[dict]]:
    """Demo events in event-time order (the live features function then is point in time too: late events,
    where live windows see later events and the rebuild does not, are tests/test_rebuild.py's), labels."""
    pairs = list(drifting_stream(EVENTS, drift_at=10_000))
    return [event for event, _ in pairs], [label for _, label in pairs]


def test_features_rebuilt_from_the_tier_train_the_model_the_new_spec_serves(stage: Stage, tmp_path) -> None:
    events, labels = history()
    sent = {
        name: [orjson.dumps(r) for r in records] for name, records in (("events", events), ("labels", labels))
    }
    for name, payloads in sent.items():
        producer = stage.producer(name)
        for record, payload in zip(events if name == "events" else labels, payloads, strict=True):
            producer.send(payload, partition_key=record.get("key") or record["id"])
        producer.flush()

    offloaded = [ledger for name in sent for ledger in offload_everything(stage.admin, stage.topic(name))]
    wait_for(
        lambda: not any(bookkeeper_has_ledger(ledger) for ledger in offloaded),
        180,
        f"BookKeeper to delete the offloaded ledgers {offloaded}",
        every=5,
    )
    for name, payloads in sent.items():
        stage.admin.unload(stage.topic(name))  # no broker cache: the reads below come from the tier
        assert stage.payloads(name) == payloads, f"{name}: not read back from the tier as sent"

    spec = yaml.safe_load((CONFIG_DIR / "features.yaml").read_text())
    features_v2 = [*spec["userConfig"]["features"], NEW_FEATURE]
    spec["userConfig"]["features"] = features_v2
    spec_path = tmp_path / "features-v2.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    broker = ("--service-url", stage.pulsar.service_url, "--namespace", f"public/{stage.namespace}")
    rebuilt = ok(
        streamloop("rebuild", "--features-config", spec_path, *broker, "--out", "set.jsonl", cwd=tmp_path)
    )
    assert f"read {EVENTS} events (0 malformed" in rebuilt.stdout, rebuilt.stdout
    examples = [orjson.loads(line) for line in (tmp_path / "set.jsonl").read_bytes().splitlines()]
    assert sorted(e["id"] for e in examples) == sorted(e["id"] for e in events)

    # The features function deployed with the new spec computes the very same values.
    stage.deploy(["features"], user_config={"features": {"features": features_v2}})
    wait_for(lambda: len(stage.payloads("features")) >= EVENTS, 180, f"{EVENTS} live features records")
    live = {r["id"]: r["x"] for r in map(orjson.loads, stage.payloads("features"))}
    assert live == {e["id"]: e["x"] for e in examples}
    assert list(live[examples[0]["id"]])[-1] == NEW_FEATURE["name"]

    trained = ok(streamloop("train", "set.jsonl", "--version", "rebuilt-1", *broker, cwd=tmp_path))
    assert "published model default:rebuilt-1" in trained.stdout, trained.stdout
    stage.deploy(["scorer"])
    wait_for(lambda: len(stage.payloads("predictions")) >= EVENTS, 180, f"{EVENTS} predictions")
    models = {orjson.loads(p)["model"] for p in stage.payloads("predictions")}
    assert models == {"default:rebuilt-1"}, models
    rejections = [m for m in map(orjson.loads, stage.payloads("metrics")) if m.get("event") == "rejection"]
    assert rejections == []

    # A learner fed the rebuilt examples on a topic of their own learns each exactly once.
    ok(
        streamloop(
            "rebuild", "--features-config", spec_path, *broker, "--to-topic", "examples-v2", cwd=tmp_path
        )
    )
    topic = stage.topic("examples-v2")
    stage.deploy(
        ["learner"],
        user_config={"learner": {"checkpoint_every": CHECKPOINT_EVERY}},
        function_config={
            "learner": {"inputs": [topic], "inputSpecs": {topic: {"serdeClassName": RAW_BYTES}}}
        },
    )
    whole = EVENTS - EVENTS % CHECKPOINT_EVERY
    wait_for(lambda: learned(stage) >= whole, 180, f"{whole} rebuilt examples learned")
    seen = list(load_checkpoint(stage).seen_ids)
    assert len(seen) == len(set(seen)) == whole and set(seen) <= {e["id"] for e in examples}


RAW_BYTES = "streamloop.worker.codec.RawBytes"
