"""Everything the learner checkpoints: one picklable object, so a restart resumes exactly where it stopped.

>>> from streamloop.worker.learner.settings import LearnerConfig
>>> state = LearnerState.fresh(LearnerConfig())
>>> state.remember("e1", limit=2); state.remember("e2", limit=2); state.remember("e3", limit=2)
>>> "e1" in state.seen_ids, "e3" in state.seen_ids
(False, True)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from streamloop.worker.learner.dedup import IdWindow
from streamloop.worker.learner.export import model_to_onnx
from streamloop.worker.learner.models import build_model, pure_inference_mode
from streamloop.worker.learner.promotion import Observation, PromotionPolicy
from streamloop.worker.learner.settings import LearnerConfig
from streamloop.worker.learner.windows import VersionWindows


@dataclass
class LearnerState:
    """The live model, the policy and the bookkeeping that must survive a restart.

    Attributes
    ----------
    fingerprint
        :attr:`LearnerConfig.fingerprint` of the config that built the model.
    model
        The challenger: the live river pipeline.
    policy
        Champion/challenger comparison and drift detector.
    windows
        The open metrics window per model version.
    feature_names
        Fixed by the first example learned: the model's input columns.
    seen_ids
        The last ``dedup_window`` example ids learned, oldest first (checkpointed incrementally).
    n_learned
        Examples learned in total.
    version
        The last version published (versions count 1, 2, 3, … per model name).
    published
        The last model message (ONNX bytes, properties), republished on restart in case it was lost.
    """

    fingerprint: str
    model: Any
    policy: PromotionPolicy
    windows: VersionWindows
    feature_names: list[str] | None = None
    seen_ids: IdWindow = field(default_factory=IdWindow)
    n_learned: int = 0
    version: int = 0
    published: tuple[bytes, dict[str, str]] | None = None

    @classmethod
    def fresh(cls, config: LearnerConfig, version: int = 0) -> LearnerState:
        """An untrained state for ``config`` (keeping ``version`` so versions stay unique)."""
        metric = config.build_metric()
        return cls(
            fingerprint=config.fingerprint,
            model=build_model(config.model),
            policy=PromotionPolicy(metric, config.drift.build(), config.promotion, config.task),
            windows=VersionWindows(metric),
            version=version,
        )

    def remember(self, example_id: str, limit: int) -> None:
        """Record a learned id, forgetting the oldest beyond ``limit``."""
        self.seen_ids.add(example_id, limit)

    def score(
        self, x: dict[str, float], y: Any, champion: str | None, champion_pred: Any
    ) -> tuple[Any, Observation]:
        """The live model's prediction of ``x`` (pure: it learns nothing) and what the example does to the
        policy (``champion`` predicted ``champion_pred``, the label is ``y``); a drift reset restarts the
        live model from a fresh clone."""
        with pure_inference_mode():
            challenger_pred = self.model.predict_one(x)
        observation = self.policy.observe(y, champion, champion_pred, challenger_pred)
        if observation.reset:
            self.model = self.model.clone()
        return challenger_pred, observation

    def learn(
        self,
        example_id: str,
        x: dict[str, float],
        y: Any,
        champion: str | None,
        champion_pred: Any,
        challenger_pred: Any,
        config: LearnerConfig,
    ) -> None:
        """Learn the example :meth:`score` scored, remember its id, and count both models' predictions in
        the metric windows."""
        self.model.learn_one(x, y)
        self.policy.learned()
        self.remember(example_id, config.dedup_window)
        self.n_learned += 1
        if champion is not None and champion_pred is not None:
            self.windows.update(champion, y, champion_pred)
        self.windows.update(f"{config.model_name}:challenger", y, challenger_pred)

    def to_onnx(self, config: LearnerConfig) -> bytes:
        """The live model as ONNX, its metadata naming :attr:`version` (counted by the caller first)."""
        assert self.feature_names is not None
        policy = self.policy
        metadata = {
            "version": str(self.version),
            "n_trained": str(policy.challenger_n),
            "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "source": "streamloop.worker.learner",
        }
        if policy.paired:
            metadata[self.windows.name] = repr(policy.challenger_metric.get())
        return model_to_onnx(self.model, self.feature_names, metadata, classes=config.label_classes)
