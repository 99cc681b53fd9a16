"""The model one instance serves: restored from its state, fed from ``models``, verified, hot-swapped.

The scorer (:class:`~streamloop.worker.scorer.ScorerFunction`) and the fused features-and-scorer function
(:class:`~streamloop.worker.fused.FeaturesScorerFunction`) both score with a :class:`Serving`; what it
promises is in the scorer's docstring.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from typing import Any, NamedTuple

import orjson

from streamloop.worker.function import StreamFunction
from streamloop.worker.messages import Features, Prediction, prediction_record, rejection_event
from streamloop.worker.modelcontract import ModelRejected
from streamloop.worker.modelsigning import SIGNATURE_PROPERTY, verify
from streamloop.worker.scorer.config import ScorerConfig
from streamloop.worker.scorer.feed import follow_models
from streamloop.worker.scorer.model import OnnxModel
from streamloop.worker.secretkeys import MODEL_SIGNING_KEY
from streamloop.worker.statestore import ChunkedState, StateError

log = logging.getLogger("streamloop.worker.scorer")


class SignedModel(NamedTuple):
    """A model message's value and its signature (``None``: unsigned), not yet verified."""

    payload: bytes
    signature: str | None

    def stored(self) -> str:
        """The text kept in function state: ``{"onnx": <base64>, "signature": ...}``."""
        onnx = base64.b64encode(self.payload).decode("ascii")
        return orjson.dumps({"onnx": onnx, "signature": self.signature}).decode()

    def load(self, key: bytes, config: ScorerConfig, probe: Mapping[str, float] | None) -> OnnxModel:
        """The model, once its signature checks out with ``key`` and :meth:`OnnxModel.load` validated it
        (scoring ``probe``, the last features scored); :class:`ModelRejected` says why it must not serve."""
        verify(key, config.model_name, self.payload, self.signature)
        return OnnxModel.load(
            self.payload,
            config.model_name,
            max_bytes=config.max_model_bytes,
            probe=probe,
            expected_features=config.expected_features,
        )

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


class Serving:
    """The serving model of ``function`` (its keys, state, metrics), following ``config.models_topic``.

    Built in the function's ``setup``, with the first message's context.
    """

    def __init__(self, function: StreamFunction, config: ScorerConfig, context: Any) -> None:
        self.function = function
        self.config = config
        self.model: OnnxModel | None = None
        self._last_x: dict[str, float] | None = None
        self._arrived: SignedModel | None = None  # the newest model message, not yet verified
        key = f"serving/{config.model_name}/{context.get_instance_id()}"
        self._serving = ChunkedState(function.function_state, key, name=f"scorer state {key!r}")
        self._restore_serving_model()
        self._feed = follow_models(
            context.get_pulsar_client(), config.models_topic, self._on_model, function.seam
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
        function, config, data = self.function, self.config, arrived.payload
        try:
            model = arrived.load(function.keys[MODEL_SIGNING_KEY], config, self._last_x)
        except ModelRejected as error:
            serving = self.model.label if self.model else None
            log.warning("rejected model (%d bytes): %s; still serving %s", len(data), error, serving)
            function.record("models_rejected", 1)
            reason = str(error)
            function.metric_event(config.model_name, rejection_event(config.model_name, reason, serving))
            return
        if self.model is None or self.model.version != model.version:
            self.model = model
            log.info("serving model %s", model.label)
            function.record("models_loaded", 1)
            if store:  # written behind, like all function state: the swap never waits for the store
                self._serving.put(arrived.stored())
                function.save_state()

    def predict(self, features: Features) -> Prediction:
        """The prediction of ``features`` by the serving model (``"model": None`` before there is one),
        after swapping in the newest model message if one has arrived since the last prediction."""
        if self._arrived is not None:
            self._swap_in_arrived_model()
        model = self.model
        if model is None:
            y_pred, proba, label = None, None, None
        else:
            prediction = model.predict(features["x"])
            y_pred, proba, label = prediction.y_pred, prediction.proba, model.label
        self._last_x = features["x"]
        return prediction_record(features, label, y_pred, proba)
