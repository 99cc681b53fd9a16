"""The scorer: features in, one prediction per event out, with the model hot-swapped from ``models``."""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

from pydantic import Field

from streamloop.worker.checkcases import scorer_case
from streamloop.worker.codec import encode
from streamloop.worker.config import UserConfig, topic
from streamloop.worker.function import Delivery, StreamFunction
from streamloop.worker.messages import prediction_record, read_features, rejection_event
from streamloop.worker.modelcontract import ModelRejected
from streamloop.worker.scorer.feed import follow_models
from streamloop.worker.scorer.model import OnnxModel
from streamloop.worker.statestore import ChunkedState, StateError

log = logging.getLogger("streamloop.worker.scorer")


class ScorerConfig(UserConfig):
    model_name: str = "default"
    """Key of the model to serve on the models topic."""
    models_topic: str = topic("models")
    """The compacted topic the scorer follows (every instance reads every model)."""
    max_model_bytes: int = Field(64 * 1024 * 1024, gt=0)
    """Models larger than this are rejected before they are parsed."""
    expected_features: list[str] | None = None
    """If set, a model whose feature_names are not all in this list is rejected."""


class ScorerFunction(StreamFunction[ScorerConfig]):
    """Scores each features record with the serving ONNX model.

    Every event yields exactly one prediction: before any model is published it carries
    ``"model": null`` (so labels can still be joined and the learner can start), afterwards the
    ``name:version`` of the model that made it. New models arrive from the compacted ``models`` topic
    (:mod:`~streamloop.worker.scorer.feed`). Its callback runs on another thread and only parks the bytes;
    the next ``process`` call validates them (:meth:`OnnxModel.load`) and swaps the model between two
    messages, or reports the rejection on ``metrics`` while the old model serves on. (Loading an ONNX
    model, or publishing, inside a client callback held the client's only callback thread; on a real
    broker that stalled the scorer for good.)

    Each instance keeps the model it serves in function state (``serving/<model_name>/<instance id>``,
    written behind the processing thread) and starts from it after a restart: the compacted ``models``
    topic holds only the newest message per name, and when that one is bad a restarted scorer would
    otherwise have nothing to serve.
    """

    Config = ScorerConfig
    role = "scorer"
    check_case = staticmethod(scorer_case)

    def setup(self, context: Any) -> None:
        self.model: OnnxModel | None = None
        self._last_x: dict[str, float] | None = None
        self._arrived: bytes | None = None  # the newest model bytes, not yet validated
        key = f"serving/{self.config.model_name}/{context.get_instance_id()}"
        self._serving = ChunkedState(self.function_state, key, name=f"scorer state {key!r}")
        self._restore_serving_model()
        self._feed = follow_models(
            context.get_pulsar_client(),
            self.config.models_topic,
            self._on_model,
            self.seam,
        )

    def _restore_serving_model(self) -> None:
        """Serve the model this instance served before a restart, validated again."""
        try:
            text = self._serving.get()
            data = base64.b64decode(text, validate=True) if text is not None else None
        except (StateError, binascii.Error, ValueError) as error:
            log.warning("ignoring the stored serving model: %s", error)
            return
        if data is not None:
            self._arrived = data
            self._swap_in_arrived_model(store=False)

    def _on_model(self, name: str, payload: Any) -> None:
        """Model feed callback (another thread): keep the newest bytes for our model name, nothing else."""
        if name == self.config.model_name and payload:
            self._arrived = bytes(payload)  # one reference assignment; a newer model replaces an older one

    def _swap_in_arrived_model(self, store: bool = True) -> None:
        data, self._arrived = self._arrived, None
        if data is None:
            return
        config = self.config
        try:
            model = OnnxModel.load(
                data,
                config.model_name,
                max_bytes=config.max_model_bytes,
                probe=self._last_x,
                expected_features=config.expected_features,
            )
        except ModelRejected as error:
            serving = self.model.label if self.model else None
            log.warning("rejected model (%d bytes): %s; still serving %s", len(data), error, serving)
            self.record("models_rejected", 1)
            reason = str(error)
            self.metric_event(config.model_name, rejection_event(config.model_name, reason, serving))
            return
        if self.model is None or self.model.version != model.version:
            self.model = model
            log.info("serving model %s", model.label)
            self.record("models_loaded", 1)
            if store:  # written behind, like all function state: the swap never waits for the store
                self._serving.put(base64.b64encode(data).decode("ascii"))
                self.save_state()

    def on_message(self, delivery: Delivery, context: Any) -> None:
        features = read_features(delivery.payload)
        if self._arrived is not None:
            self._swap_in_arrived_model()
        model = self.model
        if model is None:
            y_pred, proba, label = None, None, None
        else:
            prediction = model.predict(features["x"])
            y_pred, proba, label = prediction.y_pred, prediction.proba, model.label
        self._last_x = features["x"]
        out = encode(prediction_record(features, label, y_pred, proba))
        self.publish(self.context.get_output_topic(), out, key=features["id"], acks=(delivery,))
