"""The library-chain ceiling: the loop's ML and state work per event, in one tight loop, no runtime.

What the loop's functions do for each event, calling the worker's own code at the configs' cadence, with
no Runner, transport, :class:`~streamloop.worker.function.Delivery` or acks:

- features: orjson decode of the raw event; the spec transform with the key's window state, kept in a
  :class:`~streamloop.worker.features.store.StateCache` that writes every updated key's log (JSON) each
  ``state_flush_every`` events (or ``state_flush_seconds``);
- scorer: each new model verified and loaded (:meth:`SignedModel.load`) and kept as the serving model,
  the ONNX call (:meth:`OnnxModel.predict`), orjson encode of the prediction record;
- learner, ``LABEL_DELAY`` events later (when the replayed label arrives): the champion/challenger step
  (:meth:`LearnerState.score` and :meth:`LearnerState.learn`: river predict and learn, drift detector,
  rolling metrics, metric windows), the windows closed every ``metrics_every`` examples, each promotion
  exported to ONNX and signed, and a signed checkpoint every ``checkpoint_every`` examples.

A promoted model serves from the next event on, as in the embedded loop, so the chain makes the loop's
predictions and models. State goes into a dict (:class:`Memory`). Left to the runtime (part of what the
embedded/chain ratio measures): the messages between the functions (features, predictions, labels,
examples and metrics records, encoded and decoded), the joiner, validation and the state writers.
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass, field
from time import monotonic
from typing import Any

import orjson

from streamloop.tools.bench.workload import LABEL_DELAY, Workload
from streamloop.worker.features.featurizer import Featurizer
from streamloop.worker.features.state import KeyState
from streamloop.worker.features.store import StateCache
from streamloop.worker.learner.checkpoint import CheckpointStore
from streamloop.worker.learner.state import LearnerState
from streamloop.worker.messages import features_record, prediction_record
from streamloop.worker.modelcontract import read_properties
from streamloop.worker.modelsigning import sign
from streamloop.worker.scorer.model import OnnxModel
from streamloop.worker.scorer.serving import SignedModel
from streamloop.worker.statestore import ChunkedState

Example = tuple[str, dict[str, float], bool, str | None, Any]  # id, x, y, champion, champion's y_pred


class Unacked:
    """Stands for each input the worker's code holds until the state covering it is saved: no acks here."""

    def hold(self) -> None:
        """Nothing to keep unacked."""

    def release(self) -> None:
        """Nothing to ack."""


INPUT = Unacked()


class Memory(dict[str, str]):
    """Function state as a dict (what the loop's state writers end up storing), and ``held``: the inputs
    since the last save (:attr:`~streamloop.worker.writebehind.WriteBehindState.held`)."""

    def __init__(self) -> None:
        super().__init__()
        self.held = 0

    def hand_over(self, deliveries: list[Unacked]) -> None:
        """Inputs to release once their state is stored: it is, and there is nothing to ack."""

    def put_state(self, key: str, value: str) -> None:
        self[key] = value

    def get_state(self, key: str) -> bytes | None:
        value = self.get(key)
        return None if value is None else value.encode()

    def delete_state(self, key: str) -> None:
        self.pop(key, None)


@dataclass
class Trace:
    """What one run of the chain did: each step's inputs (the breakdown replays them) and its outputs."""

    records: list[dict[str, Any]] = field(default_factory=list)
    flushes: list[dict[str, KeyState]] = field(default_factory=list)  # the updated keys at each flush
    swaps: list[tuple[SignedModel, dict[str, float] | None]] = field(default_factory=list)  # and probe
    scored: list[tuple[dict[str, float], OnnxModel | None]] = field(default_factory=list)  # x, its model
    predictions: list[tuple[str | None, Any, dict[str, float] | None]] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)
    promotions: list[LearnerState] = field(default_factory=list)  # as each promoted model was exported
    checkpoints: list[LearnerState] = field(default_factory=list)  # as each checkpoint was saved


class Chain:
    """The per-event steps over one workload, chained (:meth:`chain`) or each alone (:attr:`steps`)."""

    def __init__(self, workload: Workload) -> None:
        self.workload = workload
        self.payloads = [orjson.dumps(event) for event in workload.events]
        self.targets = [bool(label["label"]) for label in workload.labels]
        features = workload.features
        self.featurizer = Featurizer(features.features, features.window_max_events)
        self.signing_key = secrets.token_bytes(32)  # the loop's are generated per run too
        self.checkpoint_key = secrets.token_bytes(32)
        self.trace = Trace()
        self._run(self.trace)

    # -- one function's work -------------------------------------------------------------------------
    def _states(self, state: Memory) -> StateCache:
        config, layout = self.workload.features, self.featurizer.windows
        assert layout is not None, "the demo's features keep window state"
        # a WriteBehindState in the function: the same calls
        return StateCache.configured(state, layout, config, monotonic(), shared=False)  # type: ignore[arg-type]

    def _serving(self) -> ChunkedState:
        return ChunkedState(Memory(), f"serving/{self.workload.scorer.model_name}/0")

    def _swap(
        self,
        serving: ChunkedState,
        model: OnnxModel | None,
        arrived: SignedModel,
        probe: dict[str, float] | None,
    ) -> OnnxModel:
        """The scorer taking a new model (``probe``: the last features scored): verified, loaded, and
        stored as its serving model unless it is the version serving."""
        loaded = arrived.load(self.signing_key, self.workload.scorer, probe)
        if model is not None and model.version == loaded.version:
            return model
        serving.put(arrived.stored())
        return loaded

    def _learn(self, learner: LearnerState, example: Example) -> str | None:
        """The learner's work for one example; returns the reason to promote, if any."""
        config = self.workload.learner
        example_id, x, y, champion, champion_pred = example
        if example_id in learner.seen_ids:
            return None
        if learner.feature_names is None:
            learner.feature_names = list(x)
        challenger_pred, _ = learner.score(x, y, champion, champion_pred)
        learner.learn(example_id, x, y, champion, champion_pred, challenger_pred, config)
        reason = learner.policy.decide()
        if learner.n_learned % config.metrics_every == 0:
            learner.windows.flush()
        return reason

    def _export(self, learner: LearnerState) -> tuple[SignedModel, dict[str, str]]:
        """The live model as the learner publishes it: ONNX, signed, and the message's properties."""
        config = self.workload.learner
        blob = learner.to_onnx(config)
        return SignedModel(blob, sign(self.signing_key, config.model_name, blob)), read_properties(blob)

    # -- the chain -----------------------------------------------------------------------------------
    def _run(self, trace: Trace | None = None) -> None:
        """Every step for each event in turn, each example when its label comes; ``trace`` records them."""
        loads, dumps = orjson.loads, orjson.dumps
        transform = self.featurizer.transform
        states = self._states(Memory())
        serving = self._serving()
        learned = Memory()
        learner_config = self.workload.learner
        learner = LearnerState.fresh(learner_config)
        store = CheckpointStore(learned, learner_config.checkpoint_key, self.checkpoint_key)
        model: OnnxModel | None = None
        arrived: SignedModel | None = None  # promoted, not yet loaded by the scorer
        last_x: dict[str, float] | None = None
        waiting: deque[Example] = deque()
        updated: dict[str, KeyState] = {}

        def learn(example: Example) -> None:
            nonlocal arrived
            if self._learn(learner, example) is not None:
                learner.version += 1
                if trace is not None:
                    trace.promotions.append(deepcopy(learner))
                arrived, properties = self._export(learner)
                learner.published = (arrived.payload, properties)
                learner.policy.promoted(f"{learner_config.model_name}:{learner.version}")
            learned.held += 1
            if learned.held >= learner_config.checkpoint_every:
                learner.seen_ids.close_segment()
                if trace is not None:
                    trace.checkpoints.append(deepcopy(learner))
                store.save(learner)
                learned.held = 0

        for payload, y in zip(self.payloads, self.targets, strict=True):
            record = loads(payload)
            key, ts, event_id = record["key"], record["ts"], record["id"]
            now = monotonic()
            state = states.get(key, now)
            x = transform(record, ts, event_id, state)
            states.updated(key, state, INPUT)  # type: ignore[arg-type]  # a Delivery in the loop
            if trace is not None:
                trace.records.append(record)
                updated[key] = state
            if states.due(now):
                if trace is not None:
                    trace.flushes.append(
                        {k: KeyState.from_json(s.layout, s.to_json()) for k, s in updated.items()}
                    )
                    updated = {}
                states.flush(now)
            if arrived is not None:
                if trace is not None:
                    trace.swaps.append((arrived, last_x))
                model, arrived = self._swap(serving, model, arrived, last_x), None
            if model is None:
                label, y_pred, proba = None, None, None
            else:
                prediction = model.predict(x)
                label, y_pred, proba = model.label, prediction.y_pred, prediction.proba
            last_x = x
            dumps(prediction_record(features_record(event_id, key, ts, x), label, y_pred, proba))
            example = (event_id, x, y, label, y_pred)
            if trace is not None:
                trace.scored.append((x, model))
                trace.predictions.append((label, y_pred, proba))
                trace.examples.append(example)
            waiting.append(example)
            if len(waiting) > LABEL_DELAY:
                learn(waiting.popleft())
        while waiting:
            learn(waiting.popleft())

    def chain(self) -> None:
        """The ceiling: the whole chain over the workload."""
        self._run()

    # -- the steps, each over the whole workload, from the trace ---------------------------------------
    def decode(self) -> None:
        loads = orjson.loads
        for payload in self.payloads:
            loads(payload)

    def features(self) -> None:
        transform, states = self.featurizer.transform, self._states(Memory())
        for record in self.trace.records:
            key, now = record["key"], monotonic()
            state = states.get(key, now)
            transform(record, record["ts"], record["id"], state)
            states.updated(key, state, INPUT)  # type: ignore[arg-type]  # a Delivery in the loop

    def state_flush(self) -> None:
        states = self._states(Memory())
        for flush in self.trace.flushes:
            for key, state in flush.items():
                states.updated(key, state, INPUT)  # type: ignore[arg-type]  # a Delivery in the loop
            states.flush(monotonic())

    def model_load(self) -> None:
        serving, model = self._serving(), None
        for arrived, probe in self.trace.swaps:
            model = self._swap(serving, model, arrived, probe)

    def score(self) -> None:
        for x, model in self.trace.scored:
            if model is not None:
                model.predict(x)

    def encode(self) -> None:
        dumps = orjson.dumps
        trace = self.trace
        for record, (x, _), (label, y_pred, proba) in zip(
            trace.records, trace.scored, trace.predictions, strict=True
        ):
            features = features_record(record["id"], record["key"], record["ts"], x)
            dumps(prediction_record(features, label, y_pred, proba))

    def learn(self) -> None:
        """The learner's per-example work; a promotion only marked (exporting it is ``promote``)."""
        learner = LearnerState.fresh(self.workload.learner)
        for example in self.trace.examples:
            if self._learn(learner, example) is not None:
                learner.version += 1
                learner.policy.promoted(str(learner.version))

    def promote(self) -> None:
        for learner in self.trace.promotions:
            self._export(learner)

    def checkpoint(self) -> None:
        config = self.workload.learner
        store = CheckpointStore(Memory(), config.checkpoint_key, self.checkpoint_key)
        for learner in self.trace.checkpoints:
            store.save(learner)

    @property
    def steps(self) -> dict[str, Callable[[], None]]:
        return {
            "decode": self.decode,
            "features": self.features,
            "state_flush": self.state_flush,
            "model_load": self.model_load,
            "onnx_score": self.score,
            "encode": self.encode,
            "learn": self.learn,
            "promote": self.promote,
            "checkpoint": self.checkpoint,
        }


def timed(run: Callable[[], None]) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one call of ``run`` (CPU time ignores other processes on the machine)."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu
