"""What a function declares so that the contract suite (:mod:`streamloop.runtime.checks`) can drive it.

Like river's ``_unit_test_params``, every :class:`~streamloop.worker.function.StreamFunction` subclass
returns a :class:`CheckCase` from its ``check_case()`` classmethod: a configuration to run with, a
generator of good input streams, inputs that must be dead-lettered, and adversarial streams whose state
must stay bounded. Nothing here runs on a worker's hot path; it is data.

>>> case = CheckCase(inputs=("words",), good=lambda n: [CheckInput("words", b'{"id": "1"}', "1")][:n])
>>> case.good(1)[0].key, case.topic("words")
('1', 'persistent://public/default/words')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import orjson

from streamloop.worker.config import topic


class CheckInput(NamedTuple):
    """One input message: the topic (short or fully qualified), the payload, the message key and
    properties."""

    topic: str
    payload: bytes
    key: str | None = None
    properties: Mapping[str, str] | None = None


Stream = Callable[[int], list[CheckInput]]


@dataclass(frozen=True)
class CheckCase:
    """A function's test configuration and inputs for the contract suite.

    ``good(n)`` returns a stream of ``n`` or so good inputs, the same every call (no hidden randomness);
    ``bad`` are inputs each of which must give exactly one dead letter; ``adversarial`` maps a name (one
    hot key, ids that never repeat, labels that never come, ...) to a stream generator whose state and
    unacked inputs must stay bounded however long it runs. ``snapshot(table)`` reads what matters
    out of the stored state table, to compare after a crash or a duplicate (by default the whole table);
    ``footprint(function)`` counts what the function holds in memory (pending items, remembered ids),
    which must stay bounded like the stored state. ``prelude`` is sent before any stream (e.g. a model for
    the scorer).
    """

    inputs: tuple[str, ...]
    good: Stream
    bad: tuple[CheckInput, ...] = ()
    adversarial: Mapping[str, Stream] = field(default_factory=dict)
    user_config: Mapping[str, Any] = field(default_factory=dict)
    secrets: Mapping[str, Any] = field(default_factory=dict)
    function_config: Mapping[str, Any] = field(default_factory=dict)
    prelude: tuple[CheckInput, ...] = ()
    snapshot: Callable[[Mapping[str, bytes]], Any] | None = None
    footprint: Callable[[Any], int] | None = None

    @staticmethod
    def topic(name: str) -> str:
        """``name`` fully qualified (``persistent://public/default/<name>`` for a short name)."""
        return topic(name)


# -- the functions' cases ---------------------------------------------------------------------------
# Test keys, only ever used by the suite.
CHECK_KEY = "streamloop-contract-suite-checkpoint-key-0123456789"
CHECK_SIGNING_KEY = "streamloop-contract-suite-model-signing-key-0123456789"


def _json(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record)


def spoiled(topic: str, good: dict[str, Any], *changes: dict[str, Any]) -> tuple[CheckInput, ...]:
    """Bad inputs: not JSON at all, then ``good`` with each of ``changes`` applied (keyed ``"k"``)."""
    return (
        CheckInput(topic, b"\xff not json", "k"),
        *(CheckInput(topic, _json({**good, **c}), "k") for c in changes),
    )


def features_case() -> CheckCase:
    """Events of five entities with a numeric, a one-hot and two window features."""

    def events(n: int, keys: int = 5, step: float = 7.0) -> list[CheckInput]:
        out = []
        for i in range(n):
            key = f"k{i % keys}"
            record = {"id": f"e{i}", "key": key, "ts": 1_000.0 + i * step, "amount": float(i % 13)}
            record["channel"] = ("web", "app")[i % 2]
            out.append(CheckInput("events", _json(record), key))
        return out

    good_event = {"id": "b", "key": "k", "ts": 1.0, "amount": 1.0, "channel": "web"}
    return CheckCase(
        inputs=("events",),
        good=events,
        bad=spoiled("events", good_event, {"id": None}, {"channel": "fax"}, {"amount": "lots"}),
        adversarial={"one hot key": lambda n: events(n, keys=1, step=0.001)},
        user_config={
            "features": [
                {"name": "amount", "kind": "numeric", "field": "amount"},
                {"name": "channel", "kind": "onehot", "field": "channel", "values": ["web", "app"]},
                {"name": "n_1h", "kind": "window", "agg": "count", "window": 3600},
                {
                    "name": "amount_mean_1h",
                    "kind": "window",
                    "agg": "mean",
                    "field": "amount",
                    "window": 3600,
                },
            ],
            "state_flush_every": 1,  # every input's window state saved before it is acked: comparable state
            "window_max_events": 200,  # the hot key reaches it well within the adversarial stream
        },
        function_config={"output": topic("features"), "retainKeyOrdering": True},
    )


def _features_record(i: int) -> dict[str, Any]:
    return {"id": f"e{i}", "key": f"k{i % 5}", "ts": 1_000.0 + i, "x": {"a": float(i % 7), "b": i % 3 - 1.0}}


def _signed_model(rows: list[dict[str, float]], labels: list[bool]) -> CheckInput:
    """A small logistic regression of ``rows`` exported by the learner's own code, as its signed message."""
    from river import linear_model, preprocessing

    from streamloop.worker.learner.export import model_to_onnx
    from streamloop.worker.modelsigning import SIGNATURE_PROPERTY, sign

    model = preprocessing.StandardScaler() | linear_model.LogisticRegression()
    for x, y in zip(rows, labels, strict=True):
        model.learn_one(x, y)
    blob = model_to_onnx(model, list(rows[0]), {"version": "1", "source": "contract suite"})
    signature = sign(CHECK_SIGNING_KEY.encode(), "default", blob)
    return CheckInput("models", blob, "default", {SIGNATURE_PROPERTY: signature})


def scorer_case() -> CheckCase:
    """Features records scored by a small logistic regression exported by the learner's own code."""
    rows = [_features_record(i)["x"] for i in range(50)]

    def features(n: int) -> list[CheckInput]:
        return [CheckInput("features", _json(r), r["key"]) for r in map(_features_record, range(n))]

    return CheckCase(
        inputs=("features",),
        good=features,
        bad=spoiled("features", {"id": "b", "key": "k", "ts": 1.0}, {"x": [1, 2]}, {"x": {"a": "high"}}),
        secrets={"model_signing_key": CHECK_SIGNING_KEY},
        function_config={"output": topic("predictions")},
        prelude=(_signed_model(rows, [x["a"] > 3 for x in rows]),),
    )


def features_scorer_case() -> CheckCase:
    """The features case's events, each scored by a model of two of its features."""
    rows = [{"amount": float(i % 13), "n_1h": float(1 + i // 5)} for i in range(50)]
    return replace(
        features_case(),
        secrets={"model_signing_key": CHECK_SIGNING_KEY},
        function_config={"output": topic("predictions"), "retainKeyOrdering": True},
        prelude=(_signed_model(rows, [x["amount"] > 6 for x in rows]),),
    )


def joiner_case() -> CheckCase:
    """Predictions, and labels three events late; every fifth event is never labelled."""

    def prediction(i: int) -> CheckInput:
        record = {**_features_record(i), "model": "default:1", "y_pred": i % 2 == 0}
        record["proba"] = {"false": 0.4, "true": 0.6}
        return CheckInput("predictions", _json(record), record["id"])

    def label(i: int) -> CheckInput:
        return CheckInput("labels", _json({"id": f"e{i}", "label": i % 3 == 0, "ts": 1_000.0 + i}), f"e{i}")

    def stream(n: int) -> list[CheckInput]:
        out = []
        for i in range(n):
            out.append(prediction(i))
            if i >= 3 and (i - 3) % 5 != 4:
                out.append(label(i - 3))
        return out

    return CheckCase(
        inputs=("predictions", "labels"),
        good=stream,
        bad=(
            *spoiled("predictions", {"id": "b", "ts": 1.0}, {"x": 3}),
            *spoiled("labels", {"id": "b", "ts": 1.0}, {}, {"id": None, "label": True}),
        ),
        adversarial={
            "labels that never come": lambda n: [prediction(i) for i in range(n)],
            "ids that never repeat": stream,
        },
        # The TTL outlasts the stream: a restart redelivers each input topic's backlog in its own order, and
        # a shorter TTL would expire pairs whose halves come back far apart in event time.
        user_config={"ttl_seconds": 3600.0, "max_pending": 100, "remember_joined": 200},
        function_config={"output": topic("examples"), "retainKeyOrdering": True},
        footprint=lambda function: len(function.predictions) + len(function.labels) + len(function.joined),
    )


def learner_case() -> CheckCase:
    """Examples of a drifting rule, checkpointed every ten; ids forgotten beyond a 200-id window."""

    def examples(n: int) -> list[CheckInput]:
        out = []
        for i in range(n):
            x = _features_record(i)["x"]
            y = (x["a"] > 3) != (i > n // 2)
            record = {"id": f"e{i}", "ts": 1_000.0 + i, "x": x, "y": y, "y_pred": None, "proba": None}
            out.append(CheckInput("examples", _json({**record, "model": None}), record["id"]))
        return out

    good = {"id": "b", "ts": 1.0, "x": {"a": 1.0, "b": 0.0}, "y": True, "y_pred": None, "model": None}
    return CheckCase(
        inputs=("examples",),
        good=examples,
        bad=spoiled("examples", good, {"y": None}, {"y": "maybe"}, {"x": {"a": "one"}}),
        adversarial={"ids that never repeat": examples},
        user_config={
            "checkpoint_every": 10,
            "dedup_window": 200,
            "metrics_every": 20,
            "promotion": {"every_n": 25, "min_samples": 10, "window": 50},
        },
        secrets={"checkpoint_hmac_key": CHECK_KEY, "model_signing_key": CHECK_SIGNING_KEY},
        function_config={"output": topic("models"), "retainOrdering": True},
        snapshot=_learner_snapshot,
        footprint=lambda function: len(function.state.seen_ids),
    )


def _learner_snapshot(table: Mapping[str, bytes]) -> Any:
    """What the stored checkpoint has learned: the count, the remembered ids and the model's numbers."""
    import pickle  # only dumps, to compare two models; the checkpoint itself is HMAC-checked on load

    from streamloop.worker.learner.checkpoint import CheckpointStore

    class Table:
        def get_state(self, key: str) -> bytes | None:
            return table.get(key)

    state = CheckpointStore(Table(), "learner-checkpoint", CHECK_KEY.encode()).load()
    return None if state is None else (state.n_learned, list(state.seen_ids), pickle.dumps(state.model))
