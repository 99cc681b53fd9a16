"""The scorer's ``userConfig``: which model to serve, from which topic, within which limits."""

from __future__ import annotations

from pydantic import Field

from streamloop.worker.config import UserConfig, topic


class ScorerConfig(UserConfig):
    """Settings of :class:`~streamloop.worker.scorer.ScorerFunction`."""

    model_name: str = "default"
    """Key of the model to serve on the models topic."""
    models_topic: str = topic("models")
    """The compacted topic the scorer follows (every instance reads every model)."""
    max_model_bytes: int = Field(64 * 1024 * 1024, gt=0)
    """Models larger than this are rejected before they are parsed."""
    expected_features: list[str] | None = None
    """If set, a model whose feature_names are not all in this list is rejected."""
