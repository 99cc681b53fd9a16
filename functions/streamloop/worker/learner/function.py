"""The learner function: examples in, river learning, ONNX models out, effectively once.

Per example: skip it if its id was already learned; predict with the live model (pure), score it against
the serving model's prediction carried by the example, feed the drift detector, learn, and promote by
:mod:`~streamloop.worker.learner.promotion`'s policy. Each example stays unacked (``delivery.hold()``) until a
checkpoint that contains it is stored, so after a crash the learner resumes from its checkpoint and Pulsar
redelivers exactly the examples it had not persisted: the model equals that of a run without the crash.
Checkpoints are stored by a writer thread (:mod:`~streamloop.worker.writebehind`) while learning goes on.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from typing import Any, ClassVar

from streamloop.worker.checkcases import CheckCase, learner_case
from streamloop.worker.codec import BadMessage, decode_object, require_features, require_id
from streamloop.worker.config import ConfigError, Problem
from streamloop.worker.function import Delivery, StreamFunction
from streamloop.worker.learner.checkpoint import CheckpointError, CheckpointStore
from streamloop.worker.learner.export import model_properties, model_to_onnx
from streamloop.worker.learner.models import pure_inference_mode
from streamloop.worker.learner.settings import LearnerConfig
from streamloop.worker.learner.state import LearnerState
from streamloop.worker.writebehind import WriteBehindState

log = logging.getLogger("streamloop.worker.learner")

SECRET = "checkpoint_hmac_key"


def _same_kind(a: Any, b: Any) -> bool:
    return isinstance(a, str) == isinstance(b, str) and isinstance(a, (str, int, float))


class LearnerFunction(StreamFunction[LearnerConfig]):
    """``examples`` → river → ``models`` (ONNX, compacted) and ``metrics``; one instance, ordered input."""

    Config: ClassVar[type[LearnerConfig]] = LearnerConfig
    role: ClassVar[str] = "learner"

    @classmethod
    def check_case(cls) -> CheckCase:
        return learner_case()

    def __init__(self) -> None:
        super().__init__()
        self.state: LearnerState | None = None
        self.store: CheckpointStore | None = None
        self.output_topic = ""
        self._held: list[Delivery] = []

    # -- lifecycle -----------------------------------------------------------------------------------
    def setup(self, context: Any) -> None:
        try:
            self.state = self._restore(context)
        except (ConfigError, CheckpointError) as error:
            log.error("learner cannot start (the input stays unacked): %s", error)
            raise
        self._held = []
        if self.state.published is not None:  # its publish may not have been confirmed before a crash
            blob, properties = self.state.published
            self.publish(self.output_topic, blob, key=self._config.model_name, properties=properties)

    def _restore(self, context: Any) -> LearnerState:
        """The checkpointed state; a :class:`CheckpointError` stops the function (never start over)."""
        config = self._config
        source = f"function {context.get_function_name() or self.role}"
        secret = context.get_secret(SECRET)
        if not secret:
            required = "required: the HMAC key that signs the learner's checkpoints"
            raise ConfigError([Problem(source, f"secrets.{SECRET}", required)])
        self.output_topic = context.get_output_topic() or ""
        if not self.output_topic:
            required = "required: the models topic the learner publishes to"
            raise ConfigError([Problem(source, "output", required)])
        key = secret.encode() if isinstance(secret, str) else bytes(secret)
        self.writes = WriteBehindState(context, name="learner checkpoints")
        self.store = CheckpointStore(self.writes, config.checkpoint_key, key)
        state = self.store.load()
        if state is None:
            return LearnerState.fresh(config)
        if state.fingerprint != config.fingerprint:
            log.warning(
                "learner: model, metric or drift config changed; fresh model after v%d", state.version
            )
            fresh = LearnerState.fresh(config, version=state.version)
            fresh.seen_ids = state.seen_ids
            return fresh
        state.policy.settings = config.promotion
        return state

    @property
    def _config(self) -> LearnerConfig:
        assert self.config is not None
        return self.config

    # -- one example ---------------------------------------------------------------------------------
    def on_message(self, delivery: Delivery, context: Any) -> None:
        config, state = self._config, self.state
        assert state is not None
        record = decode_object(delivery.payload)
        example_id = require_id(record)
        x = require_features(record)
        y = self._target(record.get("y"), "y")
        if y is None:
            raise BadMessage("y: missing")
        champion = record.get("model")
        if champion is not None and not isinstance(champion, str):
            raise BadMessage(f"model: expected a string or null, got {type(champion).__name__}")
        if example_id in state.seen_ids:
            self.record("duplicates", 1)
            return
        self._check_features(x)
        champion_pred = self._prediction(record.get("y_pred"))

        with pure_inference_mode():
            challenger_pred = state.model.predict_one(x)
        observation = state.policy.observe(y, champion, champion_pred, challenger_pred)
        if observation.reset:
            state.model = state.model.clone()
        if observation.drift:
            self._report_drift(example_id, champion, observation.reset, delivery)
        state.model.learn_one(x, y)
        state.policy.learned()
        state.remember(example_id, config.dedup_window)
        state.n_learned += 1
        if champion is not None and champion_pred is not None:
            state.windows.update(champion, y, champion_pred)
        state.windows.update(f"{config.model_name}:challenger", y, challenger_pred)
        self.record("examples_learned", 1)

        reason = state.policy.decide()
        if reason is not None:
            self._promote(reason, example_id, delivery)
        if state.n_learned % config.metrics_every == 0:
            self._report_windows(delivery)
        delivery.hold()
        self._held.append(delivery)
        if len(self._held) >= config.checkpoint_every:
            self.checkpoint()

    def _target(self, value: Any, field: str) -> Any:
        """``value`` as river's target (``False``/``True`` or a float); ``None`` if absent."""
        if value is None:
            return None
        config = self._config
        if config.task == "classification":
            for index, label in enumerate(config.label_classes):
                if _same_kind(value, label) and value == label:
                    return bool(index)
            raise BadMessage(f"{field}: expected one of {config.label_classes}, got {value!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise BadMessage(f"{field}: expected a finite number, got {value!r}")
        return float(value)

    def _prediction(self, value: Any) -> Any:
        """The serving model's prediction as a target, or ``None`` if missing or unusable."""
        try:
            return self._target(value, "y_pred")
        except BadMessage:
            return None

    def _check_features(self, x: dict[str, float]) -> None:
        state = self.state
        assert state is not None
        if state.feature_names is None:
            if not x:
                raise BadMessage("x: no features")
            state.feature_names = list(x)
            return
        if len(x) == len(state.feature_names) and x.keys() == set(state.feature_names):
            return
        missing = [name for name in state.feature_names if name not in x]
        if missing:
            raise BadMessage(f"x.{missing[0]}: missing (the model's features are {state.feature_names})")
        extra = next(name for name in x if name not in state.feature_names)
        raise BadMessage(f"x.{extra}: not one of the model's features {state.feature_names}")

    # -- outputs -------------------------------------------------------------------------------------
    def _promote(self, reason: str, example_id: str, delivery: Delivery) -> None:
        config, state = self._config, self.state
        assert state is not None and state.feature_names is not None
        policy = state.policy
        previous = policy.champion
        state.version += 1
        version = str(state.version)
        model_id = f"{config.model_name}:{version}"
        metric = state.windows.name
        metadata = {
            "version": version,
            "n_trained": str(policy.challenger_n),
            "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "source": "streamloop.worker.learner",
        }
        if policy.paired:
            metadata[metric] = repr(policy.challenger_metric.get())
        blob = model_to_onnx(state.model, state.feature_names, metadata, classes=config.label_classes)
        properties = model_properties(state.model, state.feature_names, metadata, config.label_classes)
        self.publish(self.output_topic, blob, key=config.model_name, properties=properties, acks=(delivery,))
        event = {
            "event": "promotion",
            "model": model_id,
            "version": version,
            "reason": reason,
            "id": example_id,
            "champion": previous,
            "paired": policy.paired,
            "n_trained": policy.challenger_n,
        }
        if policy.paired:
            event[f"champion_{metric}"] = policy.champion_metric.get()
            event[f"challenger_{metric}"] = policy.challenger_metric.get()
        state.published = (blob, properties)
        policy.promoted(model_id)
        self.metric_event(config.model_name, event)
        self.record("promotions", 1)

    def _report_drift(self, example_id: str, champion: str | None, reset: bool, delivery: Delivery) -> None:
        config, state = self._config, self.state
        assert state is not None
        event = {
            "event": "drift",
            "model": champion,
            "id": example_id,
            "detector": type(state.policy.detector).__name__,
            "action": "reset" if reset else "keep",
            "n": state.n_learned,
        }
        self.metric_event(config.model_name, event, acks=(delivery,))
        self.record("drifts", 1)

    def _report_windows(self, delivery: Delivery) -> None:
        config, state = self._config, self.state
        assert state is not None
        index = state.windows.index
        for record in state.windows.flush():
            self.metric_event(
                config.model_name, {"event": "window", "window": index, **record}, acks=(delivery,)
            )
            role = "challenger" if record["model"].endswith(":challenger") else "served"
            self.record(f"{role}_{state.windows.name}", record[state.windows.name])

    def checkpoint(self) -> None:
        """Store the state, then ack every example it contains (a failed store keeps them held).

        On Pulsar the writer thread stores it (and acks) while learning goes on.
        """
        config, state, store = self._config, self.state, self.store
        assert state is not None and store is not None
        started = time.perf_counter()
        state.seen_ids.close_segment()
        held = self._held
        for delivery in held:  # one more hold each, until the checkpoint record below is on its way
            delivery.hold()
        try:
            size = store.save(state)
            self.writes.commit(held)
        except Exception:
            log.exception("learner: storing the checkpoint failed; %d examples stay unacked", len(held))
            self.record("checkpoint_failures", 1)
            for delivery in held:
                delivery.release()
            return
        self._held = []
        self.record("checkpoint_bytes", size)
        self.record("checkpoint_seconds", time.perf_counter() - started)
        self.metric_event(
            config.model_name,
            {
                "event": "checkpoint",
                "model": config.model_name,
                "n": state.n_learned,
                "bytes": size,
                "acked": len(held),
            },
            acks=held,  # so an example is acked once its checkpoint is stored and reported
        )
        for delivery in held:
            delivery.release()
