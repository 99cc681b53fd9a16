"""Feature specs and the features userConfig: names known from the config, errors naming the key."""

from __future__ import annotations

import pytest

from streamloop.worker.config import ConfigError, parse_user_config
from streamloop.worker.features import FeaturesConfig, parse_spec


def parse(features: list[dict], **settings: object) -> FeaturesConfig:
    return parse_user_config(FeaturesConfig, {"features": features, **settings}, source="features.yaml")


def problems(features: list[dict], **settings: object) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        parse(features, **settings)
    return [(p.key, p.message) for p in caught.value.problems]


NUM = {"name": "a", "kind": "numeric", "field": "a"}


def test_feature_names_come_from_the_config_alone() -> None:
    config = parse(
        [
            NUM,
            {"name": "c", "kind": "onehot", "field": "c", "values": ["x", "y"]},
            {"name": "h", "kind": "hashed", "field": "h", "buckets": 2},
            {"name": "n", "kind": "window", "agg": "count", "window": 60},
            {"name": "hour", "kind": "numeric", "transform": "hour_of_day"},
        ]
    )
    assert config.feature_names == ["a", "c=x", "c=y", "h[0]", "h[1]", "n", "hour"]
    assert [s.kind for s in config.features] == ["numeric", "onehot", "hashed", "window", "numeric"]


def test_defaults() -> None:
    config = parse([NUM])
    assert (config.id_field, config.key_field, config.time_field) == ("id", "key", "ts")
    assert config.state_flush_every == 100
    assert parse_spec({"name": "c", "kind": "onehot", "field": "c", "values": ["x"]}).on_unknown == "error"


@pytest.mark.parametrize(
    ("features", "key", "fragment"),
    [
        (
            [NUM, {"name": "n", "kind": "window", "agg": "count", "window": 0}],
            "features[1].window",
            "greater than 0",
        ),
        ([NUM, {"name": "n", "kind": "window", "agg": "mean", "window": 5}], "features[1].field", "required"),
        (
            [{"name": "n", "kind": "window", "agg": "count", "field": "a", "window": 5}],
            "features[0].field",
            "not used",
        ),
        (
            [{"name": "n", "kind": "window", "agg": "median", "field": "a", "window": 5}],
            "features[0].agg",
            "count",
        ),
        ([{**NUM, "transform": "clip", "min": 5, "max": 1}], "features[0].max", "greater than min"),
        ([{**NUM, "transform": "clip"}], "features[0].min", "clip needs"),
        ([{**NUM, "min": 1}], "features[0].min", "only used by transform 'clip'"),
        ([{**NUM, "transform": "sqrt"}], "features[0].transform", "log1p"),
        ([{"name": "a", "kind": "numeric"}], "features[0].field", "required for transform 'none'"),
        ([NUM, {"name": "z", "kind": "zscore"}], "features[1].kind", "unknown kind; expected one of numeric"),
        ([{"name": "z", "field": "a"}], "features[0].kind", "missing"),
        ([NUM, {**NUM, "field": "b"}], "features[1].name", "also produced by features[0]"),
        (
            [{"name": "c", "kind": "onehot", "field": "c", "values": ["x", "x"]}],
            "features[0].values",
            "unique",
        ),
        ([{"name": "c", "kind": "onehot", "field": "c", "values": []}], "features[0].values", "at least 1"),
        (
            [{"name": "h", "kind": "hashed", "field": "h", "buckets": 0}],
            "features[0].buckets",
            "greater than",
        ),
        ([{**NUM, "colour": "red"}], "features[0].colour", "unknown key"),
        ([{**NUM, "default": "1"}], "features[0].default", "valid number"),
        ([], "features", "at least 1"),
    ],
)
def test_config_errors_name_the_key(features: list[dict], key: str, fragment: str) -> None:
    found = problems(features)
    assert any(k == f"userConfig.{key}" and fragment in m for k, m in found), found


def test_onehot_names_collide_with_a_numeric_name() -> None:
    found = problems(
        [
            {"name": "c=x", "kind": "numeric", "field": "a"},
            {"name": "c", "kind": "onehot", "field": "c", "values": ["x"]},
        ]
    )
    assert found == [
        ("userConfig.features[1].name", "feature 'c=x' is also produced by features[0] (got 'c')")
    ]


def test_settings_are_checked() -> None:
    assert problems([NUM], state_flush_every=0)[0][0] == "userConfig.state_flush_every"
    assert problems([NUM], id_field="")[0][0] == "userConfig.id_field"
    assert problems([NUM], windw=3)[0] == ("userConfig.windw", "unknown key")


def test_integers_are_accepted_where_floats_are_expected() -> None:
    spec = parse_spec({"name": "a", "kind": "numeric", "field": "a", "transform": "clip", "min": 0, "max": 1})
    assert (spec.min, spec.max) == (0.0, 1.0)
