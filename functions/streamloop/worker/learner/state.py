"""Everything the learner checkpoints: one picklable object, so a restart resumes exactly where it stopped.

>>> from streamloop.worker.learner.settings import LearnerConfig
>>> state = LearnerState.fresh(LearnerConfig())
>>> state.remember("e1", limit=2); state.remember("e2", limit=2); state.remember("e3", limit=2)
>>> "e1" in state.seen_ids, "e3" in state.seen_ids
(False, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streamloop.worker.learner.dedup import IdWindow
from streamloop.worker.learner.models import build_model
from streamloop.worker.learner.promotion import PromotionPolicy
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
