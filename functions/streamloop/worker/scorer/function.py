"""The scorer: features in, one prediction per event out, with the model hot-swapped from ``models``."""

from __future__ import annotations

from typing import Any, ClassVar

from streamloop.worker.checkcases import scorer_case
from streamloop.worker.codec import encode
from streamloop.worker.function import Delivery, StreamFunction
from streamloop.worker.messages import read_features
from streamloop.worker.scorer.config import ScorerConfig
from streamloop.worker.scorer.serving import Serving
from streamloop.worker.secretkeys import MODEL_SIGNING_KEY

__all__ = ["ScorerConfig", "ScorerFunction"]


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
        self.serving = Serving(self, self.config, context)  # type: ignore[arg-type]

    def on_message(self, delivery: Delivery, context: Any) -> None:
        features = read_features(delivery.payload)
        out = encode(self.serving.predict(features))
        self.publish(self.context.get_output_topic(), out, key=features["id"], acks=(delivery,))
