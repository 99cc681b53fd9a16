"""The loop on a real Pulsar: the four functions deployed with ``pulsar-admin functions create`` from the
unchanged ``pulsar-config/*.yaml``, then the local runner in broker mode against the same standalone, and
the same predictions from the embedded runner, the runner on the broker and the deployed functions."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pulsar as pulsar_client
import pytest
from cluster import FUNCTIONS, REPO, Pulsar, delete_topics, wait_for

from streamloop.runtime.keys import KeyStore, default_key_dir
from streamloop.runtime.runner import Runner
from streamloop.tools.bootstrap import train_onnx
from streamloop.tools.demo import drifting_stream, read_topic
from streamloop.tools.replay import replay
from streamloop.worker.config import topic
from streamloop.worker.modelsigning import SIGNATURE_PROPERTY, sign
from streamloop.worker.secretkeys import MODEL_SIGNING_KEY

pytestmark = pytest.mark.pulsar

CONFIG_DIR = REPO / "pulsar-config"


def keys() -> KeyStore:
    """The keys of this session's deploys (``$STREAMLOOP_KEY_DIR``): every transport signs and verifies
    models with public/default's ``model_signing_key``."""
    return KeyStore(default_key_dir())


def deploy(p: Pulsar, package: Path, names: tuple[str, ...]) -> None:
    for name in names:
        p.deploy(CONFIG_DIR / f"{name}.yaml", package)
    for name in names:
        p.wait_for_status(name, running=1, timeout=240)


def records(client: Any, name: str) -> list[dict[str, Any]]:
    return [orjson.loads(m.data()) for m in read_topic(client, topic(name))]


def by_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        out.setdefault(item["id"], item)
    return out


def stream_and_check_the_loop(client: Any, p: Pulsar | None = None) -> None:
    """Send a stream in two parts, the second after the learner has published a model, then check:
    one prediction per event, examples for the labelled events, the learner's model served, metrics."""
    pairs = list(drifting_stream(2000, 1000, seed=5))
    first, second = pairs[:1500], pairs[1500:]
    replay(client, (e for e, _ in first), (lbl for _, lbl in first), label_delay=50)
    wait_for(lambda: read_topic(client, topic("models")), timeout=300, what="a model from the learner")
    replay(client, (e for e, _ in second), (lbl for _, lbl in second), label_delay=50)
    n = len(pairs)
    predictions = wait_for(
        lambda: (found := by_id(records(client, "predictions"))) and len(found) == n and found,
        timeout=300,
        what=f"{n} predictions",
    )
    assert set(predictions) == {e["id"] for e, _ in pairs}
    examples = wait_for(
        lambda: (found := by_id(records(client, "examples"))) and len(found) == n and found,
        timeout=300,
        what="an example for every labelled event",
    )
    assert set(examples) == set(predictions)
    versions = {f"default:{m.properties()['version']}" for m in read_topic(client, topic("models"))}
    late = {predictions[e["id"]]["model"] for e, _ in second[-200:]}
    assert late and late <= versions, (late, versions)  # hot-swapped to the learner's models
    metric_events = {r["event"] for r in records(client, "metrics")}
    assert {"window", "promotion"} <= metric_events
    assert not read_topic(client, topic("dead-letters"))


def test_deployed_functions_close_the_loop(clean: Pulsar, package: Path) -> None:
    deploy(clean, package, FUNCTIONS)
    client = pulsar_client.Client(clean.service_url)
    try:
        stream_and_check_the_loop(client, clean)
    finally:
        client.close()
    for name in FUNCTIONS:
        status = clean.status(name)
        assert status["numRunning"] == 1, status
        for instance in status["instances"]:
            assert instance["status"]["numSystemExceptions"] == 0, (name, instance)
            assert instance["status"]["numUserExceptions"] == 0, (name, instance)


@contextmanager
def broker_mode(client: Any, files: list[Path]) -> Iterator[Runner]:
    """The local runner on a real broker, serving on its own thread until the block ends."""
    runner = Runner.from_files(files, client=client, keys=keys())
    runner.start()
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield runner
    finally:
        stop.set()
        thread.join(timeout=60)
        runner.stop()


def test_the_runner_in_broker_mode_closes_the_loop(clean: Pulsar) -> None:
    client = pulsar_client.Client(clean.service_url)
    try:
        with broker_mode(client, [CONFIG_DIR / f"{name}.yaml" for name in FUNCTIONS]):
            stream_and_check_the_loop(client)
    finally:
        client.close()


FIXED_EVENTS = 400
SCORING = ("features", "scorer")


def fixed_model() -> bytes:
    """A model trained offline on history, so every transport scores with the same one."""
    history = list(drifting_stream(500, 10_000, seed=11))
    return train_onnx(
        [({"x0": e["x0"], "x1": e["x1"]}, lbl["label"]) for e, lbl in history], version="fixed-1"
    )


def score_with(client: Any, model: bytes, drive: Any = None) -> dict[str, dict[str, Any]]:
    """Publish ``model`` (signed), send the same events, and collect one prediction per event id."""
    key = keys().key("public/default", MODEL_SIGNING_KEY).value.encode()
    properties = {SIGNATURE_PROPERTY: sign(key, "default", model)}
    client.create_producer(topic("models")).send(model, partition_key="default", properties=properties)
    events = [e for e, _ in drifting_stream(FIXED_EVENTS, 10_000, seed=21)]
    replay(client, events, [None] * len(events), on_sent=drive)
    return wait_for(
        lambda: (found := by_id(records(client, "predictions"))) and len(found) == FIXED_EVENTS and found,
        timeout=240,
        what=f"{FIXED_EVENTS} predictions",
    )


def test_same_predictions_embedded_in_broker_mode_and_deployed(clean: Pulsar, package: Path) -> None:
    model = fixed_model()
    files = [CONFIG_DIR / f"{name}.yaml" for name in SCORING]

    embedded_runner = Runner.from_files(files, keys=keys())
    embedded_runner.start()
    embedded = score_with(embedded_runner.client, model, drive=lambda *_: embedded_runner.pump())
    embedded_runner.stop()

    client = pulsar_client.Client(clean.service_url)
    try:
        deploy(clean, package, SCORING)
        deployed = score_with(client, model)
        for name in SCORING:
            clean.delete(name)
        delete_topics(clean)

        with broker_mode(client, files):
            in_broker_mode = score_with(client, model)
    finally:
        client.close()

    assert {p["model"] for p in embedded.values()} == {"default:fixed-1"}
    assert deployed == embedded
    assert in_broker_mode == embedded
