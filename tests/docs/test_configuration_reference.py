"""The generated pages must match their sources today: docs/configuration.md (the config schemas) and
docs/cli.md (the ``streamloop`` parser)."""

from __future__ import annotations

from pathlib import Path

from streamloop.tools.clidoc import render as render_cli
from streamloop.tools.configdoc import render
from streamloop.worker.config import UserConfig
from streamloop.worker.features.config import FeaturesConfig
from streamloop.worker.features.spec import SPEC_KINDS
from streamloop.worker.fused import FeaturesScorerConfig
from streamloop.worker.joiner import JoinerConfig
from streamloop.worker.learner.models import ModelSpec, RiverObject
from streamloop.worker.learner.promotion import PromotionConfig
from streamloop.worker.learner.settings import LearnerConfig
from streamloop.worker.scorer.function import ScorerConfig

PAGE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_the_committed_reference_is_up_to_date():
    assert PAGE.read_text() == render(), "docs/configuration.md is stale: run `make docs`"


def test_every_key_of_every_function_is_documented():
    text = PAGE.read_text()
    for model in (UserConfig, LearnerConfig):
        for name, field in model.model_fields.items():
            assert f"| `{field.alias or name}` |" in text
    assert "| `checkpoint_every` | int | `1000` | > 0 |" in text
    assert "`drift.ADWIN`" in text  # the allow-list of river classes


def test_every_field_is_described_in_one_style():
    """Attribute docstrings (pydantic's field descriptions): one sentence or more, capitalised, ending
    with a full stop."""
    models = [
        FeaturesConfig,
        *SPEC_KINDS.values(),
        ScorerConfig,
        FeaturesScorerConfig,
        JoinerConfig,
        LearnerConfig,
    ]
    for model in [*models, PromotionConfig, ModelSpec, RiverObject]:
        for name, field in model.model_fields.items():
            text = field.description or ""
            assert text[:1].isupper() and text.endswith("."), f"{model.__name__}.{name}: {text!r}"


def test_the_committed_command_reference_is_up_to_date():
    page = PAGE.with_name("cli.md").read_text()
    assert page == render_cli(), "docs/cli.md is stale: run `make docs`"
    for command in ("replay", "train", "deploy", "undeploy", "status", "report", "validate", "run"):
        assert f"## streamloop {command}" in page
