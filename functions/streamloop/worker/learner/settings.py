"""The learner's ``userConfig``: the model, its metric and drift detector, promotion and checkpoint cadence.

>>> from streamloop.worker.config import parse_user_config
>>> config = parse_user_config(LearnerConfig, {"model_name": "fraud"}, source="learner.yaml")
>>> config.task, config.label_classes, type(config.build_metric()).__name__
('classification', [False, True], 'Accuracy')
>>> parse_user_config(LearnerConfig, {"model": {"steps": [{"class": "__import__"}]}}, source="l.yaml")
Traceback (most recent call last):
...
streamloop.worker.config.ConfigError: l.yaml: userConfig.model.steps[0].class: Value error, unknown river ...
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from typing import Any

from pydantic import Field, model_validator
from river import metrics

from streamloop.worker.config import UserConfig
from streamloop.worker.learner.models import (
    ModelSpec,
    RiverObject,
    Task,
    build_model,
    config_error,
    learns_labels,
    model_task,
)
from streamloop.worker.learner.promotion import PromotionConfig

DEFAULT_MODEL = {
    "steps": [
        {"class": "preprocessing.StandardScaler"},
        {
            "class": "linear_model.LogisticRegression",
            "params": {"optimizer": {"class": "optim.SGD", "params": {"lr": 0.05}}},
        },
    ]
}
DEFAULT_METRIC = {"classification": "metrics.Accuracy", "regression": "metrics.MAE"}


class LearnerConfig(UserConfig):
    """``userConfig`` of ``streamloop.worker.learner.LearnerFunction`` (``pulsar-config/learner.yaml``)."""

    model_name: str = Field("default", min_length=1)
    """Message key of the published models on the models topic."""
    model: ModelSpec = Field(default_factory=lambda: ModelSpec.model_validate(DEFAULT_MODEL))
    """The river pipeline learned and exported to ONNX."""
    classes: list[bool | int | str] | None = None
    """Classification: the labels river's False and True stand for (default ``[false, true]``); for a
    multiclass model (``SoftmaxRegression``, ``GaussianNB``, trees, forests), required: every label it
    learns, in the order of the ONNX model's probability columns."""
    metric: RiverObject | None = None
    """The metric of the evaluation and promotion (default ``metrics.Accuracy`` or ``metrics.MAE``)."""
    drift: RiverObject = Field(default_factory=lambda: RiverObject.model_validate({"class": "drift.ADWIN"}))
    """The drift detector, fed with the serving model's error."""
    promotion: PromotionConfig = Field(default_factory=PromotionConfig)
    """When the learner's model replaces the serving one."""
    max_model_bytes: int = Field(16 * 2**20, gt=0)
    """Largest ONNX model published (bytes); one past it is reported on metrics (``oversize``), not served."""
    checkpoint_every: int = Field(1000, gt=0)
    """Examples held unacked between checkpoints."""
    metrics_every: int = Field(500, gt=0)
    """Examples per window record on the metrics topic."""
    dedup_window: int = Field(100_000, gt=0)
    """Learned ids remembered to skip duplicates (at least ``checkpoint_every``)."""
    checkpoint_key: str = Field("learner-checkpoint", min_length=1)
    """The function state key of the checkpoint."""

    @model_validator(mode="after")
    def _consistent(self) -> LearnerConfig:
        task = self.task
        if self.metric is not None:
            self.metric.require("metric", ("metric",))
            metric = self.metric.build()
            if not metric.works_with(build_model(self.model)):
                raise config_error(
                    ("metric", "class"),
                    f"{self.metric.class_} does not work with a {task} model",
                    self.metric.class_,
                )
            if self.multiclass and isinstance(metric, metrics.base.BinaryMetric):
                raise config_error(
                    ("metric", "class"),
                    f"{self.metric.class_} is a binary metric; a multiclass model needs one that works"
                    " over every class (metrics.Accuracy, MacroF1, MicroF1, BalancedAccuracy, CohenKappa...)",
                    self.metric.class_,
                )
        self.drift.require("drift", ("drift",))
        if self.dedup_window < self.checkpoint_every:
            raise config_error(
                ("dedup_window",), "must cover at least checkpoint_every ids", self.dedup_window
            )
        if task == "regression" and self.drift.class_.startswith("drift.binary."):
            raise config_error(
                ("drift", "class"),
                "binary detectors need 0/1 errors; regression feeds absolute errors",
                self.drift.class_,
            )
        if self.classes is not None and task != "classification":
            raise config_error(("classes",), "only a classification model has classes", self.classes)
        if self.multiclass and self.classes is None:
            raise config_error(
                ("classes",),
                "required for a multiclass model: the labels it learns, in order (the ONNX model"
                " outputs one probability column per class, fixed when it is exported)",
                None,
            )
        if self.classes is not None:
            labels = self.classes
            valid = len({type(c) for c in labels}) == 1 and len(set(labels)) == len(labels)
            if self.multiclass and not (valid and len(labels) >= 2):
                raise config_error(("classes",), "expected two or more different labels of one type", labels)
            if not self.multiclass and not (valid and len(labels) == 2):
                raise config_error(("classes",), "expected two different labels of one type", labels)
        return self

    @cached_property
    def task(self) -> Task:
        return model_task(build_model(self.model))

    @cached_property
    def multiclass(self) -> bool:
        """Whether the model learns the labels themselves (:func:`learns_labels`), not ``False``/``True``."""
        return self.task == "classification" and learns_labels(build_model(self.model))

    @property
    def label_classes(self) -> list[Any]:
        """The labels of the exported probability columns: for a binary model, those of river's ``False``
        and ``True``, in that order."""
        return list(self.classes) if self.classes is not None else [False, True]

    def build_metric(self) -> Any:
        """A fresh metric (the configured one, or the task's default)."""
        metric = self.metric or RiverObject.model_validate({"class": DEFAULT_METRIC[self.task]})
        return metric.build()

    @property
    def fingerprint(self) -> str:
        """A hash of everything a checkpoint's learned state depends on (model, metric, detector, classes)."""
        learned = self.model_dump(mode="json", by_alias=True, include={"model", "metric", "drift", "classes"})
        learned["window"] = self.promotion.window
        return hashlib.sha256(json.dumps(learned, sort_keys=True).encode()).hexdigest()[:16]
