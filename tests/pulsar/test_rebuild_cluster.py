"""``streamloop rebuild`` against the real standalone: events (some late, one malformed) and labels sent to
a namespace of their own, rebuilt by the command from the broker, equal to the rebuild of the same messages
on the embedded transport; with plain and with partitioned topics."""

from __future__ import annotations

import uuid

import orjson
import pytest
import yaml
from cli_run import CONFIG_DIR, ok, streamloop
from cluster import ADMIN, SERVICE_URL, Pulsar
from pulsar import Client

from streamloop.runtime.memory import MemoryClient
from streamloop.tools.demo import drifting_stream
from streamloop.tools.history import load_features_config
from streamloop.tools.rebuild import read_topic, rebuild
from streamloop.tools.replay import replay
from streamloop.tools.runlog import topic

pytestmark = pytest.mark.pulsar
NEW_FEATURE = {"name": "x1_std_1h", "kind": "window", "agg": "std", "field": "x1", "window": 3600}


def history() -> tuple[list[dict], list[dict]]:
    """600 demo events, every fifth one 5 to 25 minutes late, a malformed one, and their labels."""
    events, labels = [], []
    for i, (event, label) in enumerate(drifting_stream(600, drift_at=10_000)):
        if i % 5 == 4:
            event["ts"] -= 300 + 60 * (i % 21)
        events.append(event)
        labels.append(label)
    events.append({"id": "bad", "key": "user-01", "ts": events[-1]["ts"], "x0": 0.5})  # no x1
    return events, [*labels, None]


@pytest.mark.parametrize("partitions", [0, 2], ids=["plain", "partitioned"])
def test_rebuild_from_the_broker_equals_the_embedded_rebuild(pulsar: Pulsar, tmp_path, partitions):
    namespace = f"public/rb{uuid.uuid4().hex[:8]}"
    spec = yaml.safe_load((CONFIG_DIR / "features.yaml").read_text())
    spec["userConfig"]["features"].append(NEW_FEATURE)
    spec_path = tmp_path / "features-v2.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    events, labels = history()
    try:
        ADMIN.ensure_namespace(namespace)
        ADMIN.set_namespace_retention(namespace, 60, 100)
        for name in ("events", "labels"):
            if partitions:
                ADMIN.request(
                    "PUT", f"/admin/v2/persistent/{namespace}/{name}/partitions", str(partitions).encode()
                )
        client = Client(SERVICE_URL)
        try:
            replay(
                client,
                events,
                labels,
                label_delay=40,
                events_topic=topic("events", namespace),
                labels_topic=topic("labels", namespace),
            )
        finally:
            client.close()
        broker = ("--service-url", SERVICE_URL, "--namespace", namespace, "--features-config", spec_path)
        done = ok(streamloop("rebuild", *broker, "--out", "set.jsonl", cwd=tmp_path))
        assert "read 601 events (1 malformed, skipped) and 600 labels: 600 labelled examples" in done.stdout
        rebuilt = [orjson.loads(line) for line in (tmp_path / "set.jsonl").read_bytes().splitlines()]

        embedded = MemoryClient()
        replay(embedded, events, labels, label_delay=40)
        expected = rebuild(
            read_topic(embedded, topic("events")),
            read_topic(embedded, topic("labels")),
            load_features_config(spec_path),
        ).examples
        # Partitions interleave in any order across keys; a key's events are in one partition, in order.
        assert {r["id"]: r for r in rebuilt} == {e["id"]: e for e in expected}
        if not partitions:
            assert rebuilt == expected

        ok(streamloop("rebuild", *broker, "--to-topic", "examples-v2", cwd=tmp_path))
        published = pulsar.consume(topic("examples-v2", namespace), len(expected))
        assert {key: orjson.loads(payload) for key, payload in published} == {e["id"]: e for e in expected}
    finally:
        ADMIN.delete_namespace(namespace, within=30, timeout=30)  # no functions: only its topics
