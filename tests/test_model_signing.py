"""Signed models: the scorer serves only models signed with its namespace's ``model_signing_key``.

Everything else (unsigned, another key, another model name, changed bytes) is rejected on ``metrics``
before it is parsed, while the serving model keeps serving; a scorer without a real key never starts.
"""

from __future__ import annotations

import base64
from pathlib import Path

import orjson
import pytest
from onnx_models import linear_classifier

from streamloop.runtime.checks import harness_for, send
from streamloop.runtime.context import UserMetrics
from streamloop.runtime.definition import define
from streamloop.runtime.instance import FunctionInstance
from streamloop.runtime.keys import KeyStore
from streamloop.runtime.memory import MemoryClient
from streamloop.runtime.state import MemoryStateStore
from streamloop.runtime.testing import FunctionHarness
from streamloop.worker.config import FunctionFile, topic
from streamloop.worker.learner import LearnerFunction
from streamloop.worker.modelsigning import SIGNATURE_PROPERTY, key_id, sign
from streamloop.worker.scorer import ScorerFunction
from streamloop.worker.secretkeys import MODEL_SIGNING_KEY
from streamloop.worker.statestore import ChunkedState

FEATURES, PREDICTIONS, MODELS, METRICS, EXAMPLES = (
    topic(name) for name in ("features", "predictions", "models", "metrics", "examples")
)
ROOT = Path(__file__).resolve().parents[1]
OTHER_KEY = b"a key of another namespace, 32 bytes or more"
SERVING = "serving/default/0"


def scorer(keys: KeyStore | None = None, **options) -> FunctionHarness:
    return FunctionHarness(
        ScorerFunction, inputs=[FEATURES], output=PREDICTIONS, name="scorer", keys=keys, **options
    )


def key_of(harness: FunctionHarness) -> bytes:
    return harness.secret(MODEL_SIGNING_KEY).encode()


def publish(harness: FunctionHarness, payload: bytes, signature: str | None, name: str = "default") -> None:
    properties = {SIGNATURE_PROPERTY: signature} if signature is not None else {}
    harness.client.create_producer(MODELS).send(payload, partition_key=name, properties=properties)
    harness.client.run_callbacks()


def score(harness: FunctionHarness, i: int) -> str | None:
    harness.send({"id": f"e{i}", "key": "k", "ts": 1.0 + i, "x": {"a": 1.0, "b": 0.0}})
    return harness.records(PREDICTIONS)[-1]["model"]


def rejections(harness: FunctionHarness) -> list[dict]:
    return [r for r in harness.records(METRICS) if r["event"] == "rejection"]


GOOD = linear_classifier(["a", "b"], [1.0, 1.0], version="1")
NEW = linear_classifier(["a", "b"], [2.0, -1.0], version="2")


def tampered(payload: bytes) -> bytes:
    """``payload`` with one byte of its metadata changed: version "2" becomes "3", still valid ONNX."""
    at = payload.rindex(b"version") + len(b"version") + 2
    assert payload[at : at + 1] == b"2"
    return payload[:at] + b"3" + payload[at + 1 :]


# Each case: the new model's payload, its signature (from the scorer's key), the reason's start.
REFUSED = {
    "signed with another key": (
        lambda key: (NEW, sign(OTHER_KEY, "default", NEW)),
        f"signature: does not match (signed with another key: key {key_id(OTHER_KEY)} signed it",
    ),
    "unsigned": (lambda key: (NEW, None), "signature: unsigned (no streamloop-signature property)"),
    "signed for another model name": (
        lambda key: (NEW, sign(key, "fraud", NEW)),
        "signature: does not match (the model or its name was changed after signing",
    ),
    "one byte changed after signing": (
        lambda key: (tampered(NEW), sign(key, "default", NEW)),
        "signature: does not match (the model or its name was changed after signing",
    ),
    "malformed signature": (lambda key: (NEW, "sha1:00"), "signature: malformed"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_model_not_signed_with_the_scorers_key_is_rejected_and_the_old_one_keeps_serving(case):
    h = scorer()
    publish(h, GOOD, sign(key_of(h), "default", GOOD))
    assert score(h, 0) == "default:1"
    make, reason = REFUSED[case]
    publish(h, *make(key_of(h)))
    assert [score(h, i) for i in (1, 2)] == ["default:1", "default:1"]
    (rejection,) = rejections(h)
    assert rejection["reason"].startswith(reason), rejection["reason"]
    assert rejection["model"] == "default" and rejection["serving"] == "default:1"
    assert h.metrics["models_rejected"] == [1] and h.metrics["models_loaded"] == [1]
    assert not h.dead_letters and not h.unacked


def test_the_tampered_model_is_one_the_scorer_would_otherwise_serve():
    """The byte changed is a valid model: only the signature stops it."""
    h = scorer()
    changed = tampered(NEW)
    publish(h, changed, sign(key_of(h), "default", changed))
    assert score(h, 0) == "default:3"


def test_a_scorer_serves_the_models_its_namespaces_learner_signs_and_refuses_another_namespaces():
    keys = KeyStore()
    learner = FunctionHarness(
        LearnerFunction,
        user_config={"promotion": {"min_samples": 10, "every_n": 20}},
        inputs=[EXAMPLES],
        output=MODELS,
        name="learner",
        keys=keys,
    )
    for i in range(20):
        x = {"a": float(i % 7), "b": float(i % 3)}
        example = {
            "id": f"e{i}",
            "ts": i,
            "x": x,
            "y": x["a"] > 3,
            "y_pred": None,
            "proba": None,
            "model": None,
        }
        learner.send(example)
    (model,) = learner.messages(MODELS)
    assert model.properties[SIGNATURE_PROPERTY] == sign(key_of(learner), "default", model.payload)
    for same_namespace, served in ((True, "default:1"), (False, None)):
        h = scorer(keys=keys if same_namespace else None)
        h.client.create_producer(MODELS).send(
            model.payload, partition_key="default", properties=model.properties
        )
        assert score(h, 0) == served
        assert bool(rejections(h)) is not same_namespace


def test_a_restarted_scorer_verifies_its_stored_model_again():
    keys = KeyStore()
    first = scorer(keys=keys)
    publish(first, GOOD, sign(key_of(first), "default", GOOD))
    assert score(first, 0) == "default:1"
    stored = dict(first.state)
    assert orjson.loads(ChunkedState(Table(stored), SERVING).get())["signature"]
    first.restart()
    assert score(first, 1) == "default:1"
    assert not rejections(first)

    same_key, other_key = scorer(keys=keys), scorer()  # the models topic of both is empty
    for h in (same_key, other_key):
        h.runner.state[h.name].table.update(stored)
    assert score(same_key, 0) == "default:1"
    assert score(other_key, 0) is None  # its key did not sign the stored model
    (rejection,) = rejections(other_key)
    assert rejection["reason"].startswith("signature: does not match (signed with another key")


def test_a_serving_model_stored_without_its_signature_is_not_restored():
    """What a scorer from before signing stored: the bare base64 of the model."""
    h = scorer()
    ChunkedState(Table(h.runner.state[h.name].table), SERVING).put(base64.b64encode(GOOD).decode())
    assert score(h, 0) is None
    assert any("ignoring the stored serving model: not a signed model" in line for line in h.logs), h.logs


class Table:
    """The state API over a harness' stored table (as ``ChunkedState`` reads and writes it)."""

    def __init__(self, table: dict[str, bytes]) -> None:
        self.table = table

    def put_state(self, key: str, value: str) -> None:
        self.table[key] = value.encode()

    def get_state(self, key: str) -> bytes | None:
        return self.table.get(key)

    def delete_state(self, key: str) -> None:
        self.table.pop(key, None)


@pytest.mark.parametrize(
    ("secrets", "reason"),
    [
        ({}, "required: the HMAC key that signs model messages"),
        ({MODEL_SIGNING_KEY: "k" * 31}, "is 31 bytes long; a key needs at least 32 random bytes"),
    ],
)
def test_a_scorer_without_a_usable_key_refuses_to_start_naming_the_secret(secrets, reason):
    h = scorer(secrets=secrets)
    message = h.send({"id": "e1", "key": "k", "ts": 1.0, "x": {"a": 1.0, "b": 0.0}})
    assert message in h.unacked and not h.records(PREDICTIONS) and not h.dead_letters
    assert any(f"secrets.{MODEL_SIGNING_KEY}: {reason}" in line for line in h.logs), h.logs


def test_the_shipped_scorer_yaml_deployed_unchanged_refuses_its_placeholder(caplog):
    """What ``pulsar-admin functions create`` of ``pulsar-config/scorer.yaml`` gives the scorer."""
    definition = define(FunctionFile.load(ROOT / "pulsar-config" / "scorer.yaml"))
    assert definition.spec.secrets == {MODEL_SIGNING_KEY: "generate"}
    client = MemoryClient()
    instance = FunctionInstance(definition, 0, client, MemoryStateStore(), UserMetrics())
    message = client.create_producer(FEATURES).send(b'{"id": "e1", "x": {"a": 1.0}}')
    instance.process_waiting()
    assert client.unacked(FEATURES, definition.subscription) == [message]
    assert not client.messages(PREDICTIONS)
    assert f"secrets.{MODEL_SIGNING_KEY}: is the placeholder 'generate', not a key" in caplog.text


def test_the_contract_suites_scorer_serves_its_signed_model():
    case = ScorerFunction.check_case()
    h = harness_for(ScorerFunction, case)
    for item in case.good(3):
        send(h, item)
    assert {r["model"] for r in h.records(PREDICTIONS)} == {"default:1"}


def test_a_learner_without_a_model_signing_key_refuses_to_start_naming_it():
    h = FunctionHarness(
        LearnerFunction,
        # not exactly "generate": the harness leaves it unfilled, and the learner sees the placeholder
        secrets={"checkpoint_hmac_key": "c" * 32, MODEL_SIGNING_KEY: "generate "},
        inputs=[EXAMPLES],
        output=MODELS,
        name="learner",
    )
    example = {"id": "e1", "ts": 1, "x": {"a": 1.0}, "y": True, "y_pred": None, "proba": None, "model": None}
    message = h.send(example)
    assert message in h.unacked and not h.dead_letters and not h.messages(MODELS)
    expected = f"secrets.{MODEL_SIGNING_KEY}: is the placeholder 'generate', not a key"
    assert any(expected in line for line in h.logs), h.logs
