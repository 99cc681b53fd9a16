"""The learner end to end on the in-memory harness: effectively-once learning, dedup, acks, outputs."""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import orjson
import pytest

from streamloop.runtime.context import UserMetrics
from streamloop.runtime.definition import define
from streamloop.runtime.instance import FunctionInstance
from streamloop.runtime.memory import MemoryClient
from streamloop.runtime.state import MemoryStateStore
from streamloop.runtime.testing import FunctionHarness
from streamloop.worker.config import FunctionFile, topic
from streamloop.worker.learner import LearnerFunction
from streamloop.worker.learner.models import pure_inference_mode
from streamloop.worker.modelsigning import SIGNATURE_PROPERTY, sign
from streamloop.worker.secretkeys import MODEL_SIGNING_KEY

EXAMPLES, MODELS, METRICS = topic("examples"), topic("models"), topic("metrics")
ROOT = Path(__file__).resolve().parents[2]


def learner(secrets=None, **config) -> FunctionHarness:
    user_config = {"checkpoint_every": 10, "metrics_every": 50, **config}
    user_config["promotion"] = {"min_samples": 30, "every_n": 200, **config.get("promotion", {})}
    return FunctionHarness(
        LearnerFunction,
        user_config=user_config,
        secrets=secrets,
        inputs=[EXAMPLES],
        output=MODELS,
        name="learner",
    )


def examples(n: int, seed: int = 0, flip_at: int | None = None, duplicates: float = 0.0) -> list[dict]:
    """A stream whose served model ``default:0`` predicts ``a > 0``; the concept flips at ``flip_at``."""
    rng = random.Random(seed)
    out: list[dict] = []
    for i in range(n):
        if out and rng.random() < duplicates:
            out.append(dict(rng.choice(out)))
            continue
        x = {"a": rng.gauss(0, 1), "b": rng.gauss(3, 2), "c": 1.0}
        y = (x["a"] + 0.3 * x["b"] > 1) != (flip_at is not None and i >= flip_at)
        out.append(
            {
                "id": f"e{i}",
                "ts": i,
                "x": x,
                "y": y,
                "y_pred": x["a"] > 0,
                "proba": None,
                "model": "default:0",
            }
        )
    return out


def fingerprint(harness: FunctionHarness) -> bytes:
    """Everything learned: the model's weights and scaler statistics, the policy, counters and ids."""
    state = harness.function.state
    model = state.model
    scaler, logreg = model["StandardScaler"], model["LogisticRegression"]
    return pickle.dumps(
        (
            sorted(logreg.weights.items()),
            logreg.intercept,
            sorted(scaler.means.items()),
            sorted(scaler.vars.items()),
            state.n_learned,
            state.version,
            list(state.seen_ids),
            state.policy.challenger_n,
            state.policy.champion,
            state.policy.drift_pending,
        )
    )


def model_versions(harness: FunctionHarness) -> list[str]:
    return [m.properties["version"] for m in harness.messages(MODELS)]


@pytest.mark.parametrize("crash_after", [[7], [55, 130, 131], [10, 20, 33, 250, 251, 399]])
def test_a_restarted_learner_ends_with_the_same_model_as_one_that_never_stopped(crash_after):
    stream = examples(400, flip_at=200, duplicates=0.05)
    steady = learner()
    for record in stream:
        steady.send(record)
    crashing = learner()
    for i, record in enumerate(stream):
        crashing.send(record)
        if i in crash_after:
            crashing.restart()  # unacked examples are redelivered to a new instance
    assert fingerprint(crashing) == fingerprint(steady)
    assert any(r["event"] == "drift" for r in steady.records(METRICS))  # the flip exercised the detector
    last = steady.function.state.model["LogisticRegression"].weights
    assert last == crashing.function.state.model["LogisticRegression"].weights
    # the same versions were published (a restart may republish its last one, never a new number)
    assert sorted(set(model_versions(crashing))) == sorted(set(model_versions(steady)))


def test_duplicates_are_acked_but_not_learned_twice():
    h = learner(checkpoint_every=100)
    stream = examples(20)
    for record in stream:
        h.send(record)
    before = fingerprint(h)
    again = [h.send(record) for record in stream[:5]]
    assert fingerprint(h) == before and h.function.state.n_learned == 20
    assert all(i in h.acked for i in again)  # nothing to wait for
    assert len(h.unacked) == 20
    assert h.metrics["duplicates"] == [1] * 5


def test_duplicates_are_skipped_across_restarts():
    h = learner(checkpoint_every=5)
    stream = examples(10)
    for record in stream:
        h.send(record)
    h.restart()
    for record in stream:
        h.send(record)
    assert h.function.state.n_learned == 10 and h.unacked == []


def test_examples_are_acked_only_after_a_checkpoint_that_contains_them():
    h = learner(checkpoint_every=5)
    stream = examples(12)
    ids = [h.send(record) for record in stream[:4]]
    assert h.unacked == ids and "learner-checkpoint" not in h.state
    ids.append(h.send(stream[4]))
    assert h.unacked == [] and "learner-checkpoint" in h.state
    more = [h.send(record) for record in stream[5:12]]
    assert h.unacked == more[5:]
    checkpoints = [r for r in h.records(METRICS) if r["event"] == "checkpoint"]
    assert [(r["n"], r["acked"]) for r in checkpoints] == [(5, 5), (10, 5)]


def test_a_failed_checkpoint_keeps_examples_held():
    h = learner(checkpoint_every=3)
    stream = examples(5)
    h.send(stream[0])
    store = h.function.store

    def broken(state):
        raise OSError("bookkeeper down")

    saved, store.save = store.save, broken
    for record in stream[1:4]:
        h.send(record)
    assert len(h.unacked) == 4 and h.metrics["checkpoint_failures"] == [1, 1]
    store.save = saved
    h.send(stream[4])
    assert h.unacked == []


def test_an_unconfirmed_model_publish_keeps_its_example_unacked():
    h = learner(checkpoint_every=1, promotion={"min_samples": 3})
    stream = [{**record, "model": None, "y_pred": None} for record in examples(5)]
    h.send(stream[0])
    h.send(stream[1])
    h.fail_sends(MODELS, 1)
    third = h.send(stream[2])  # cold-start promotion, whose publish fails
    assert third in h.unacked and model_versions(h) == []
    h.restart()  # the checkpoint has v1: it is republished, the example is a duplicate now
    assert model_versions(h) == ["1"] and h.unacked == []


def test_published_models_are_what_river_learned():
    h = learner(checkpoint_every=1000, promotion={"min_samples": 50, "every_n": 100, "margin": 1.0})
    for record in examples(200):
        h.send(record)
    [first, second] = h.messages(MODELS)
    assert first.key == "default" and first.properties["version"] == "1"
    assert second.properties["version"] == "2"
    props = second.properties
    meta = {p.key: p.value for p in onnx.load_from_string(second.payload).metadata_props}
    signature = props.pop(SIGNATURE_PROPERTY)
    assert meta == props  # the properties repeat the metadata, plus the signature
    assert signature == sign(h.secret(MODEL_SIGNING_KEY).encode(), "default", second.payload)
    assert orjson.loads(props["feature_names"]) == ["a", "b", "c"] and props["task"] == "classification"
    assert orjson.loads(props["classes"]) == [False, True] and props["n_trained"] == "200"
    rng = np.random.default_rng(0)
    X = rng.normal(0, 2, size=(100, 3)).astype(np.float32)
    _, proba = ort.InferenceSession(second.payload, providers=["CPUExecutionProvider"]).run(
        None, {"input": X}
    )
    model = h.function.state.model
    with pure_inference_mode():
        want = [model.predict_proba_one(dict(zip("abc", map(float, row), strict=True)))[True] for row in X]
    np.testing.assert_allclose(proba[:, 1], want, atol=1e-5)
    promotions = [r for r in h.records(METRICS) if r["event"] == "promotion"]
    assert [(r["version"], r["reason"], r["id"]) for r in promotions] == [
        ("1", "schedule", "e99"),
        ("2", "schedule", "e199"),
    ]


def test_window_records_per_model_version():
    h = learner(metrics_every=50)
    stream = examples(100)
    for record in stream[:60]:
        h.send(record)
    for record in stream[60:]:
        h.send({**record, "model": "default:9"})
    windows = [r for r in h.records(METRICS) if r["event"] == "window"]
    assert {(r["window"], r["model"], r["n"]) for r in windows} == {
        (0, "default:0", 50),
        (0, "default:challenger", 50),
        (1, "default:0", 10),
        (1, "default:9", 40),
        (1, "default:challenger", 50),
    }
    served = next(r for r in windows if r["model"] == "default:0" and r["window"] == 0)
    want = sum(e["y"] == e["y_pred"] for e in stream[:50]) / 50
    assert served["accuracy"] == pytest.approx(want)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"id": None}, "id: missing or empty"),
        ({"x": [1, 2]}, "x: expected an object of feature values, got list"),
        ({"x": {"a": "1", "b": 1.0, "c": 1.0}}, "x.a: expected a finite number, got str"),
        ({"y": None}, "y: missing"),
        ({"y": "yes"}, "y: expected one of [False, True], got 'yes'"),
        ({"x": {"a": 1.0, "b": 2.0}}, "x.c: missing"),
        ({"x": {"a": 1.0, "b": 2.0, "c": 1.0, "d": 0.0}}, "x.d: not one of the model's features"),
        ({"model": 3}, "model: expected a string or null, got int"),
    ],
)
def test_malformed_examples_go_to_dead_letters_naming_the_field(change, error):
    h = learner()
    first, bad = examples(2)
    h.send(first)
    message = h.send({**bad, **change})
    [dead] = h.dead_letters
    assert dead.properties["error"].startswith(error)
    assert message in h.acked and h.function.state.n_learned == 1


def test_string_labels_and_regression():
    h = learner(classes=["ham", "spam"])
    for record in examples(40):
        h.send({**record, "y": "spam" if record["y"] else "ham", "y_pred": "ham"})
    assert h.function.state.n_learned == 40 and h.dead_letters == []
    assert orjson.loads(h.messages(MODELS)[0].properties["classes"]) == ["ham", "spam"]
    r = learner(
        model={
            "steps": [{"class": "preprocessing.StandardScaler"}, {"class": "linear_model.LinearRegression"}]
        }
    )
    for record in examples(40):
        r.send({**record, "y": record["x"]["a"] * 2.0, "y_pred": 0.0})
    r.send({**examples(1)[0], "id": "bool", "y": True})
    assert r.function.state.n_learned == 40
    assert r.dead_letters[0].properties["error"].startswith("y: expected a finite number")
    assert r.messages(MODELS)[0].properties["task"] == "regression"


@pytest.mark.parametrize(
    ("secrets", "reason"),
    [
        ({}, "required"),
        ({"checkpoint_hmac_key": ""}, "required"),
        ({"checkpoint_hmac_key": "streamloop-demo-checkpoint-key-change-me"}, "is the placeholder"),
        ({"checkpoint_hmac_key": "k" * 31}, "is 31 bytes long; a key needs at least 32 random bytes"),
    ],
)
def test_no_usable_key_stops_the_function_with_a_config_error(secrets, reason):
    h = learner(secrets=secrets)
    message = h.send(examples(1)[0])
    assert message in h.unacked and h.dead_letters == []
    assert any(f"secrets.checkpoint_hmac_key: {reason}" in line for line in h.logs), h.logs
    again = h.send(examples(2)[1])  # it keeps refusing: it never runs without its state
    assert again in h.unacked and h.dead_letters == []


def test_the_shipped_yaml_deployed_unchanged_refuses_its_placeholder(caplog):
    """What ``pulsar-admin functions create`` of ``pulsar-config/learner.yaml`` gives the learner."""
    definition = define(FunctionFile.load(ROOT / "pulsar-config" / "learner.yaml"))
    assert definition.spec.secrets == {"checkpoint_hmac_key": "generate", "model_signing_key": "generate"}
    client = MemoryClient()
    instance = FunctionInstance(definition, 0, client, MemoryStateStore(), UserMetrics())
    message = client.create_producer(EXAMPLES).send(orjson.dumps(examples(1)[0]))
    instance.process_waiting()
    assert client.unacked(EXAMPLES, definition.subscription) == [message]
    assert "secrets.checkpoint_hmac_key: is the placeholder 'generate', not a key" in caplog.text


def test_a_key_of_its_own_per_run_and_the_same_across_restarts():
    def key(h: FunctionHarness) -> str:
        return h.runner.instances[0].context.get_secret("checkpoint_hmac_key")

    first, second = learner(checkpoint_every=2), learner(checkpoint_every=2)
    assert key(first) != key(second) and len(key(first)) >= 32
    before = key(first)
    for record in examples(3):
        first.send(record)
    first.restart()  # the new instance loads the checkpoint the old one signed
    first.send(examples(4)[3])
    assert first.function.state.n_learned == 4 and key(first) == before


def test_a_tampered_checkpoint_is_refused_at_startup():
    h = learner(checkpoint_every=2)
    stream = examples(3)
    for record in stream[:2]:
        h.send(record)
    table = h.runner.state["learner"].table
    slot = orjson.loads(table["learner-checkpoint"])["slot"]
    chunk = bytearray(table[f"learner-checkpoint/{slot}/0"])
    chunk[-5] = ord("A") if chunk[-5] != ord("A") else ord("B")
    table[f"learner-checkpoint/{slot}/0"] = bytes(chunk)
    h.restart()
    message = h.send(stream[2])
    assert message in h.unacked and h.dead_letters == []
    assert any("refusing to unpickle" in line for line in h.logs)
