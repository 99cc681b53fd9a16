"""What every measurement runs on: the demo's stream and the demo's function configs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamloop.runtime.runner import Runner
from streamloop.tools.demo import drifting_stream
from streamloop.worker.features.config import FeaturesConfig
from streamloop.worker.learner.settings import LearnerConfig
from streamloop.worker.scorer.config import ScorerConfig

LABEL_DELAY = 100  # as the demo


@dataclass(frozen=True)
class Workload:
    """``n`` events (and their labels) of the demo's drifting stream, and the configs in ``config_dir``."""

    config_dir: Path
    events: list[dict[str, Any]]
    labels: list[dict[str, Any]]
    features: FeaturesConfig
    learner: LearnerConfig
    scorer: ScorerConfig

    @classmethod
    def demo(cls, n: int, config_dir: str | Path = "pulsar-config", seed: int = 42) -> Workload:
        pairs = list(drifting_stream(n, n // 2, seed))
        runner = Runner.from_directory(config_dir)  # loads and validates the YAMLs; starts nothing
        features, learner, scorer = (runner.user_config(name) for name in ("features", "learner", "scorer"))
        assert isinstance(features, FeaturesConfig) and isinstance(learner, LearnerConfig)
        assert isinstance(scorer, ScorerConfig)
        events, labels = [e for e, _ in pairs], [lbl for _, lbl in pairs]
        return cls(Path(config_dir), events, labels, features, learner, scorer)

    def __len__(self) -> int:
        return len(self.events)
