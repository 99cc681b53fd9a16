"""The scorer: features in, one prediction per event out, with the model hot-swapped from ``models``."""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from typing import Any, ClassVar, NamedTuple

import orjson
from pydantic import Field

from streamloop.worker.checkcases import scorer_case
from streamloop.worker.codec import encode
from streamloop.worker.config import UserConfig, topic
from streamloop.worker.function import Delivery, StreamFunction
from streamloop.worker.messages import prediction_record, read_features, rejection_event
from streamloop.worker.modelcontract import ModelRejected
from streamloop.worker.modelsigning import SIGNATURE_PROPERTY, verify
from streamloop.worker.scorer.feed import follow_models
from streamloop.worker.scorer.model import OnnxModel
from streamloop.worker.secretkeys import MODEL_SIGNING_KEY
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


class SignedModel(NamedTuple):
    """A model message's value and its signature (``None``: unsigned), not yet verified."""

    payload: bytes
    signature: str | None

    def stored(self) -> str:
        """The text kept in function state: ``{"onnx": <base64>, "signature": ...}``."""
        onnx = base64.b64encode(self.payload).decode("ascii")
        return orjson.dumps({"onnx": onnx, "signature": self.signature}).decode()

    @classmethod
    def from_stored(cls, text: str) -> SignedModel:
        """The model :meth:`stored` wrote; ``ValueError`` for anything else (an older scorer's base64)."""
        try:
            record = orjson.loads(text)
        except orjson.JSONDecodeError:
            record = None
        if not isinstance(record, dict) or not isinstance(record.get("onnx"), str):
            raise ValueError("not a signed model (stored by an older scorer, without its signature)")
        signature = record.get("signature")
        return cls(
            base64.b64decode(record["onnx"], validate=True), signature if isinstance(signature, str) else None
        )


class ScorerFunction(StreamFunction[ScorerConfig]):
    """Scores each features record with the serving ONNX model.

    Every event yields exactly one prediction: before any model is published it carries
    ``"model": null`` (so labels can still be joined and the learner can start), afterwards the
    ``name:version`` of the model that made it. New models arrive from the compacted ``models`` topic
    (:mod:`~streamloop.worker.scorer.feed`). Its callback runs on another thread and only parks the bytes;
    the next ``process`` call validates them (:meth:`OnnxModel.load`) and swaps the model between two
    messages, or reports the rejection on ``metrics`` while the old model serves on. The first check is the
    model's signature (:mod:`~streamloop.worker.modelsigning`, with the ``model_signing_key`` secret):
    an unsigned or wrongly signed model is rejected before it is parsed. (Loading an ONNX
    model, or publishing, inside a client callback held the client's only callback thread; on a real
    broker that stalled the scorer for good.)

    Each instance keeps the model it serves in function state (``serving/<model_name>/<instance id>``,
    written behind the processing thread) and starts from it after a restart: the compacted ``models``
    topic holds only the newest message per name, and when that one is bad a restarted scorer would
    otherwise have nothing to serve. The stored model keeps its signature and is verified again.
    """

    Config = ScorerConfig
    role = "scorer"
    secrets: ClassVar[tuple[str, ...]] = (MODEL_SIGNING_KEY,)
    check_case = staticmethod(scorer_case)

    def setup(self, context: Any) -> None:
        self.model: OnnxModel | None = None
        self._last_x: dict[str, float] | None = None
        self._arrived: SignedModel | None = None  # the newest model message, not yet verified
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
        """Serve the model this instance served before a restart, verified and validated again."""
        try:
            text = self._serving.get()
            stored = SignedModel.from_stored(text) if text is not None else None
        except (StateError, binascii.Error, ValueError) as error:
            log.warning("ignoring the stored serving model: %s", error)
            return
        if stored is not None:
            self._arrived = stored
            self._swap_in_arrived_model(store=False)

    def _on_model(self, name: str, payload: Any, properties: Mapping[str, str]) -> None:
        """Model feed callback (another thread): keep the newest message for our model name, nothing else."""
        if name == self.config.model_name and payload:
            # one reference assignment; a newer model replaces an older one
            self._arrived = SignedModel(bytes(payload), properties.get(SIGNATURE_PROPERTY))

    def _swap_in_arrived_model(self, store: bool = True) -> None:
        arrived, self._arrived = self._arrived, None
        if arrived is None:
            return
        config, data = self.config, arrived.payload
        try:
            verify(self.keys[MODEL_SIGNING_KEY], config.model_name, data, arrived.signature)
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
                self._serving.put(arrived.stored())
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
