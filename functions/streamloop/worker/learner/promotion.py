"""When to publish the live river model: champion vs challenger on the same examples, drift, schedule.

The **champion** is the model serving: the newest model named by the examples' ``model`` field. The
**challenger** is the learner's live river model. Both are scored prequentially on every example the
champion predicted (the champion's ``y_pred`` from the example, the challenger's prediction made just
before it learns), over a rolling window. The policy promotes the challenger when

- ``cold_start``: nothing serves and nothing was published yet, once the challenger learned
  ``min_samples`` examples;
- ``margin``: the challenger beats the champion by more than ``margin`` over at least ``min_samples``
  paired examples (the pair restarts after each promotion, a new champion or a challenger reset);
- ``drift``: the drift detector, fed with the champion's error (0/1, or absolute error for regression),
  fires. With ``on_drift: reset`` the challenger restarts from a fresh clone at the drift point and is
  promoted as soon as it is better at all (margin 0) on ``min_samples`` post-drift paired examples; with
  ``on_drift: keep`` it is promoted at once;
- ``schedule``: ``every_n`` examples passed since the last promotion (0 disables).

No promotion publishes a challenger that learned fewer than ``min_samples`` examples.

>>> from river import drift, metrics
>>> settings = PromotionConfig(min_samples=2)
>>> policy = PromotionPolicy(metrics.Accuracy(), drift.ADWIN(), settings, "classification")
>>> for y in (True, False, True):
...     _ = policy.observe(y, champion=None, champion_pred=None, challenger_pred=y)
...     policy.learned()
>>> policy.decide()
'cold_start'
>>> policy.promoted("m:1")
>>> policy.decide() is None
True
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from river import utils

SEEN_MODELS = 16  # model ids remembered to tell a new champion from examples a previous one predicted


def rolling(metric: Any, window: int) -> utils.Rolling:
    """A fresh rolling copy of ``metric`` (same class, same scalar parameters) over ``window`` updates.

    >>> from river import metrics
    >>> accuracy = rolling(metrics.Accuracy(), 2)
    >>> for y, p in [(True, True), (False, True), (False, False)]:
    ...     accuracy.update(y, p)
    >>> accuracy.get()
    0.5
    """
    names = inspect.signature(type(metric)).parameters
    params = {
        n: getattr(metric, n) for n in names if isinstance(getattr(metric, n, None), (bool, int, float, str))
    }
    return utils.Rolling(type(metric), window_size=window, **params)


class PromotionConfig(BaseModel):
    """``userConfig.promotion``: how the challenger replaces the serving model."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, use_attribute_docstrings=True)

    window: int = Field(500, gt=0)
    """Paired examples in the rolling comparison window."""
    margin: float = Field(0.01, ge=0)
    """Metric units the challenger must win by."""
    min_samples: int = Field(100, gt=0)
    """Paired (and learned) examples needed before promoting."""
    every_n: int = Field(1000, ge=0)
    """Promote every N examples regardless (0 disables)."""
    on_drift: Literal["reset", "keep"] = "reset"
    """On drift, restart the challenger from a fresh clone (``reset``) or promote it at once (``keep``)."""


@dataclass(frozen=True)
class Observation:
    """What one example did to the policy: the detector fired; the challenger must restart from scratch."""

    drift: bool = False
    reset: bool = False


class PromotionPolicy:
    """Champion/challenger bookkeeping for one model name.

    Parameters
    ----------
    metric
        A river metric (``metrics.Accuracy()``, ``metrics.MAE()``, …) compared over the rolling window.
    detector
        A river drift detector, fed with the champion's error.
    settings
        The thresholds.
    task
        ``classification`` (0/1 errors) or ``regression`` (absolute errors).
    """

    def __init__(self, metric: Any, detector: Any, settings: PromotionConfig, task: str) -> None:
        self.metric = metric
        self.detector_prototype = detector
        self.settings = settings
        self.task = task
        self.champion: str | None = None
        self.published: str | None = None
        self.challenger_n = 0  # examples learned since the challenger was (re)built
        self.since_publish = 0
        self.drift_pending = False  # drift seen, no promotion since
        self._seen: dict[str, None] = {}
        self.detector = detector.clone()
        self._reset_pair()

    def _rolling(self) -> utils.Rolling:
        return rolling(self.metric, self.settings.window)

    def _reset_pair(self) -> None:
        self.champion_metric = self._rolling()
        self.challenger_metric = self._rolling()

    @property
    def paired(self) -> int:
        """Examples in the current champion/challenger comparison."""
        return len(self.champion_metric.window)

    def observe(self, y: Any, champion: str | None, champion_pred: Any, challenger_pred: Any) -> Observation:
        """Score one example for both models (before the challenger learns it).

        Parameters
        ----------
        y
            The true label.
        champion
            The ``model`` that predicted the example (``None`` on a cold start).
        champion_pred
            Its prediction (``None`` if unknown).
        challenger_pred
            The live model's prediction, made without learning.
        """
        if champion is not None and champion not in self._seen:
            self._seen[champion] = None
            if len(self._seen) > SEEN_MODELS:
                del self._seen[next(iter(self._seen))]
            self.champion = champion
            self.detector = self.detector_prototype.clone()
            self._reset_pair()
        if champion is None or champion != self.champion or champion_pred is None:
            return Observation()
        error = float(champion_pred != y) if self.task == "classification" else abs(y - champion_pred)
        self.detector.update(error)
        drifted = self.detector.drift_detected
        reset = drifted and self.settings.on_drift == "reset" and not self.drift_pending
        if reset:  # the fresh challenger is compared from this example on
            self.challenger_n = 0
            self._reset_pair()
        self.drift_pending = self.drift_pending or drifted
        self.champion_metric.update(y, champion_pred)
        self.challenger_metric.update(y, challenger_pred)
        return Observation(drift=drifted, reset=reset)

    def learned(self) -> None:
        """The challenger learned one more example."""
        self.challenger_n += 1
        self.since_publish += 1

    def decide(self) -> str | None:
        """The reason to promote the challenger now, or ``None``."""
        settings = self.settings
        if self.challenger_n < settings.min_samples:
            return None
        if self.drift_pending and settings.on_drift == "keep":
            return "drift"
        if self.champion is None and self.published is None:
            return "cold_start"
        if self.paired >= settings.min_samples and self.advantage() > (
            0.0 if self.drift_pending else settings.margin
        ):
            return "drift" if self.drift_pending else "margin"
        if settings.every_n and self.since_publish >= settings.every_n:
            return "schedule"
        return None

    def advantage(self) -> float:
        """How much better the challenger scores than the champion on the paired window (metric units)."""
        gap = self.challenger_metric.get() - self.champion_metric.get()
        return gap if self.metric.bigger_is_better else -gap

    def promoted(self, model: str) -> None:
        """The challenger was published as ``model``."""
        self.published = model
        self.since_publish = 0
        self.drift_pending = False
        self._reset_pair()
