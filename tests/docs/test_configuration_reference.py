"""The generated pages must match their sources today: docs/configuration.md (the config schemas) and
docs/cli.md (the ``streamloop`` parser)."""

from __future__ import annotations

from pathlib import Path

from streamloop.tools.clidoc import render as render_cli
from streamloop.tools.configdoc import render
from streamloop.worker.config import UserConfig
from streamloop.worker.learner.settings import LearnerConfig

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


def test_the_committed_command_reference_is_up_to_date():
    page = PAGE.with_name("cli.md").read_text()
    assert page == render_cli(), "docs/cli.md is stale: run `make docs`"
    for command in ("replay", "train", "deploy", "undeploy", "status", "report", "validate", "run"):
        assert f"## streamloop {command}" in page
