"""The learner function: examples in, river learning, ONNX models out, effectively once.

Per example: skip it if its id was already learned; predict with the live model (pure), score it against
the serving model's prediction carried by the example, feed the drift detector, learn, and promote by
:mod:`~streamloop.worker.learner.promotion`'s policy. Each example stays unacked (``hold_until_saved``)
until a checkpoint that contains it is stored, so after a crash the learner resumes from its checkpoint
and Pulsar redelivers exactly the examples it had not persisted: the model equals that of a run without
the crash. Checkpoints go into the function's state (:mod:`~streamloop.worker.writebehind`), stored
behind the processing thread while learning goes on. Every model it publishes is signed with the
``model_signing_key`` secret (:mod:`~streamloop.worker.modelsigning`), which the scorers verify.
"""

from __future__ import annotations

import logging
import time
from typing import Any, ClassVar

from streamloop.worker.checkcases import learner_case
from streamloop.worker.codec import BadMessage, finite_number
from streamloop.worker.config import ConfigError, Problem
from streamloop.worker.function import Delivery, StreamFunction
from streamloop.worker.learner.checkpoint import CheckpointError, CheckpointStore
from streamloop.worker.learner.settings import LearnerConfig
from streamloop.worker.learner.state import LearnerState
from streamloop.worker.messages import (
    checkpoint_event,
    drift_event,
    oversize_event,
    promotion_event,
    read_example,
    window_event,
)
from streamloop.worker.modelcontract import read_properties
from streamloop.worker.modelsigning import SIGNATURE_PROPERTY, sign
from streamloop.worker.secretkeys import CHECKPOINT_KEY, MODEL_SIGNING_KEY

log = logging.getLogger("streamloop.worker.learner")


def _same_kind(a: Any, b: Any) -> bool:
    return isinstance(a, str) == isinstance(b, str) and isinstance(a, (str, int, float))


class LearnerFunction(StreamFunction[LearnerConfig]):
    """``examples`` → river → ``models`` (ONNX, compacted) and ``metrics``; one instance, ordered input."""

    Config: ClassVar[type[LearnerConfig]] = LearnerConfig
    role: ClassVar[str] = "learner"
    state_failure_metric: ClassVar[str | None] = "checkpoint_failures"
    secrets: ClassVar[tuple[str, ...]] = (CHECKPOINT_KEY, MODEL_SIGNING_KEY)
    check_case = staticmethod(learner_case)

    def __init__(self) -> None:
        super().__init__()
        self.state: LearnerState | None = None
        self.store: CheckpointStore | None = None
        self.output_topic = ""

    # -- lifecycle -----------------------------------------------------------------------------------
    def setup(self, context: Any) -> None:
        try:
            self.state = self._restore(context)
        except (ConfigError, CheckpointError) as error:
            log.error("learner cannot start (the input stays unacked): %s", error)
            raise
        if self.state.published is not None:  # its publish may not have been confirmed before a crash
            self._publish_model(*self.state.published)

    def _restore(self, context: Any) -> LearnerState:
        """The checkpointed state; a :class:`CheckpointError` stops the function (never start over)."""
        config = self._config
        source = f"function {context.get_function_name() or self.role}"
        self.output_topic = context.get_output_topic() or ""
        if not self.output_topic:
            required = "required: the models topic the learner publishes to"
            raise ConfigError([Problem(source, "output", required)])
        self.store = CheckpointStore(self.function_state, config.checkpoint_key, self.keys[CHECKPOINT_KEY])
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
        example = read_example(delivery.payload)
        example_id, x, champion = example["id"], example["x"], example["model"]
        y = self._target(example["y"], "y")
        if example_id in state.seen_ids:
            self.record("duplicates", 1)
            return
        self._check_features(x)
        champion_pred = self._prediction(example["y_pred"])

        challenger_pred, observation = state.score(x, y, champion, champion_pred)
        if observation.drift:
            self._report_drift(example_id, champion, observation.reset, delivery)
        state.learn(example_id, x, y, champion, champion_pred, challenger_pred, config)
        self.record("examples_learned", 1)

        reason = state.policy.decide()
        if reason is not None:
            self._promote(reason, example_id, delivery)
        if state.n_learned % config.metrics_every == 0:
            self._report_windows(delivery)
        self.hold_until_saved(delivery)
        if self.function_state.held >= config.checkpoint_every:
            self.checkpoint()

    def _target(self, value: Any, field: str) -> Any:
        """``value`` (not ``None``) as river's target: the configured class (a multiclass model),
        ``False``/``True`` (a binary one), or a float."""
        config = self._config
        if config.task == "classification":
            for index, label in enumerate(config.label_classes):
                if _same_kind(value, label) and value == label:
                    return label if config.multiclass else bool(index)
            raise BadMessage(f"{field}: expected one of {config.label_classes}, got {value!r}")
        return finite_number(value, field)

    def _prediction(self, value: Any) -> Any:
        """The serving model's prediction as a target, or ``None`` if missing or unusable."""
        if value is None:
            return None
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
        started = time.perf_counter()
        blob = state.to_onnx(config)
        export_seconds = time.perf_counter() - started
        self.record("export_seconds", export_seconds)
        if len(blob) > config.max_model_bytes:
            # Not published; the policy waits as after a promotion before it tries again (never per example).
            log.warning("learner: %s is %d bytes, over max_model_bytes: not published", model_id, len(blob))
            event = oversize_event(
                model_id, reason, len(blob), config.max_model_bytes, export_seconds, previous
            )
            policy.promoted(model_id)
            self.metric_event(config.model_name, event, acks=(delivery,))
            return
        properties = read_properties(blob)
        self._publish_model(blob, properties, acks=(delivery,))
        scores = (
            {
                f"champion_{metric}": policy.champion_metric.get(),
                f"challenger_{metric}": policy.challenger_metric.get(),
            }
            if policy.paired
            else {}
        )
        event = promotion_event(
            model_id,
            version,
            reason,
            example_id,
            previous,
            policy.paired,
            policy.challenger_n,
            scores,
            len(blob),
            export_seconds,
        )
        state.published = (blob, properties)
        policy.promoted(model_id)
        self.metric_event(config.model_name, event)
        self.record("promotions", 1)

    def _publish_model(
        self, blob: bytes, properties: dict[str, str], acks: tuple[Delivery, ...] = ()
    ) -> None:
        """Publish ``blob`` to the models topic, signed with the ``model_signing_key`` it has now."""
        name = self._config.model_name
        signed = {**properties, SIGNATURE_PROPERTY: sign(self.keys[MODEL_SIGNING_KEY], name, blob)}
        self.publish(self.output_topic, blob, key=name, properties=signed, acks=acks)

    def _report_drift(self, example_id: str, champion: str | None, reset: bool, delivery: Delivery) -> None:
        config, state = self._config, self.state
        assert state is not None
        detector = type(state.policy.detector).__name__
        event = drift_event(champion, example_id, detector, "reset" if reset else "keep", state.n_learned)
        self.metric_event(config.model_name, event, acks=(delivery,))
        self.record("drifts", 1)

    def _report_windows(self, delivery: Delivery) -> None:
        config, state = self._config, self.state
        assert state is not None
        index, metric = state.windows.index, state.windows.name
        for record in state.windows.flush():
            model, value = record["model"], record[metric]
            event = window_event(index, model, record["n"], metric, value)
            self.metric_event(config.model_name, event, acks=(delivery,))
            role = "challenger" if model.endswith(":challenger") else "served"
            self.record(f"{role}_{metric}", value)

    def checkpoint(self) -> None:
        """Save the state, then ack every example it contains once stored (a failed save keeps them held).

        The seam's writer stores it (and acks) while learning goes on.
        """
        config, state, store = self._config, self.state, self.store
        assert state is not None and store is not None
        held = self.function_state.holding
        started = time.perf_counter()
        state.seen_ids.close_segment()
        try:
            size = store.save(state)
        except Exception:
            log.exception("learner: saving the checkpoint failed; %d examples stay unacked", len(held))
            self.record("checkpoint_failures", 1)
            return
        self.record("checkpoint_bytes", size)
        self.record("checkpoint_seconds", time.perf_counter() - started)
        # Published before the save is handed to the writer, so that its confirmation, like the store, must
        # come before an example it reports is acked (publish takes its holds now; the writer may ack soon).
        event = checkpoint_event(config.model_name, state.n_learned, size, len(held))
        self.metric_event(config.model_name, event, acks=held)
        self.save_state()
