"""The fused features-and-scorer function: raw events in, predictions out, one hop less.

Both stages are keyed on the entity (the features function's windows are per key, the scorer is
stateless), so one instance can do both: :class:`FeaturesScorerFunction` runs the features function's
step (:class:`~streamloop.worker.features.step.FeatureStep`: same windows, state and dead letters) and
scores its record with the scorer's :class:`~streamloop.worker.scorer.serving.Serving` (same model feed,
signature check and hot swap), publishing the prediction the scorer would have published. Its
``userConfig`` takes every key of both, unchanged, plus ``features_topic``. docs/architecture.md says
when to use it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from streamloop.worker.checkcases import features_scorer_case
from streamloop.worker.codec import encode
from streamloop.worker.features.config import FeaturesConfig
from streamloop.worker.features.step import FeatureStep
from streamloop.worker.function import Delivery, StreamFunction
from streamloop.worker.scorer.config import ScorerConfig
from streamloop.worker.scorer.serving import Serving
from streamloop.worker.secretkeys import MODEL_SIGNING_KEY


class FeaturesScorerConfig(FeaturesConfig, ScorerConfig):
    """Settings of :class:`FeaturesScorerFunction`: the features function's and the scorer's.

    >>> config = FeaturesScorerConfig.model_validate(
    ...     {"features": [{"name": "a", "kind": "numeric", "field": "a"}], "model_name": "fraud"})
    >>> config.feature_names, config.model_name, config.features_topic
    (['a'], 'fraud', None)
    """

    features_topic: str | None = None
    """Also publish each event's feature record here, keyed by entity key, as the features function does
    (for other readers of the features); by default none is published."""


class FeaturesScorerFunction(StreamFunction[FeaturesScorerConfig]):
    """Computes each event's features and publishes their prediction, keyed by event id.

    Run it where the features function runs (``retainKeyOrdering: true``: Key_Shared on the entity key,
    the windows of a key in one instance at a time) with the scorer's ``model_signing_key`` secret. An
    input is acked once its window state is saved, its prediction (and, with ``features_topic``, its
    feature record) published. A bad event is dead-lettered as the features function does; a record the
    model cannot score (a feature it needs is missing) dead-letters the event, as the scorer would its
    feature record.
    """

    Config = FeaturesScorerConfig
    role = "features-scorer"
    state_failure_metric = "state_save_failures"
    secrets: ClassVar[tuple[str, ...]] = (MODEL_SIGNING_KEY,)
    check_case = staticmethod(features_scorer_case)

    def setup(self, context: Any) -> None:
        config: FeaturesScorerConfig = self.config  # type: ignore[assignment]
        self.step = FeatureStep(self, config)
        self.serving = Serving(self, config, context)
        self.output: str = context.get_output_topic()

    def on_message(self, delivery: Delivery, context: Any) -> None:
        features = self.step.record(delivery)
        features_topic = self.config.features_topic  # type: ignore[union-attr]
        if features_topic is not None:
            self.publish(features_topic, encode(features), key=features["key"], acks=(delivery,))
        prediction = encode(self.serving.predict(features))
        self.publish(self.output, prediction, key=features["id"], acks=(delivery,))
        self.step.flush()
