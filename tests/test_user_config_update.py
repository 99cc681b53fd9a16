"""A function keeps its settings after ``pulsar-admin functions update`` (``--parallelism`` too), which hands
the userConfig back through Gson with every number a double (``10`` as ``10.0``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streamloop.runtime.definition import resolve_class
from streamloop.worker.config import ConfigError, FunctionFile, parse_user_config

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "pulsar-config").glob("*.yaml")) + sorted((REPO / "examples").glob("*/*.yaml"))


def as_gson_returns_it(value: Any) -> Any:
    """Every number a float, at any depth (booleans stay booleans)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, dict):
        return {key: as_gson_returns_it(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_gson_returns_it(item) for item in value]
    return value


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(REPO)))
def test_a_user_config_read_back_with_doubles_is_the_same_config(path: Path):
    file = FunctionFile.load(path)
    schema = resolve_class(str(file.config["className"]), str(path)).Config
    original = parse_user_config(schema, file.user_config, str(path))
    assert parse_user_config(schema, as_gson_returns_it(file.user_config), str(path)) == original


def test_a_fraction_where_an_integer_belongs_is_still_refused():
    file = FunctionFile.load(REPO / "pulsar-config" / "features.yaml")
    schema = resolve_class(str(file.config["className"]), "features.yaml").Config
    with pytest.raises(
        ConfigError, match=r"userConfig.max_publish_delay_ms: Input should be a valid integer"
    ):
        parse_user_config(schema, {**file.user_config, "max_publish_delay_ms": 2.5}, "features.yaml")
