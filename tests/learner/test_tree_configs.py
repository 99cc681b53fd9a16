"""Tree and forest learner configs: refused at load naming the parameter when not exportable exactly,
built with their nested splitters and drift detectors otherwise."""

from __future__ import annotations

import pytest
from river import drift, tree

from streamloop.worker.config import ConfigError, parse_user_config
from streamloop.worker.learner import LearnerConfig, build_model


def load(*steps: dict, classes: list | None = None) -> LearnerConfig:
    values = {"model": {"steps": list(steps)}, **({"classes": classes} if classes else {})}
    return parse_user_config(LearnerConfig, values, source="learner.yaml")


@pytest.mark.parametrize(
    ("step", "key"),
    [
        ({"class": "tree.HoeffdingTreeClassifier"}, "userConfig.model.steps[0].params.leaf_prediction"),
        (
            {"class": "tree.HoeffdingAdaptiveTreeClassifier", "params": {"leaf_prediction": "nb"}},
            "userConfig.model.steps[0].params.leaf_prediction",
        ),
        ({"class": "forest.ARFClassifier"}, "userConfig.model.steps[0].params.leaf_prediction"),
        ({"class": "forest.ARFRegressor"}, "userConfig.model.steps[0].params.aggregation_method"),
    ],
)
def test_what_cannot_be_exported_exactly_is_refused_at_load_naming_the_parameter(step, key):
    with pytest.raises(ConfigError) as error:
        load(step)
    assert [p.key for p in error.value.problems] == [key]


def test_a_forest_takes_its_own_drift_detectors_and_a_tree_its_splitter():
    config = load(
        {
            "class": "forest.ARFClassifier",
            "params": {
                "leaf_prediction": "mc",
                "drift_detector": {"class": "drift.ADWIN", "params": {"delta": 0.0001}},
                "warning_detector": {"class": "drift.NoDrift"},
                "splitter": {"class": "tree.splitter.HistogramSplitter", "params": {"n_bins": 16}},
            },
        },
        classes=[False, True],
    )
    model = build_model(config.model)["ARFClassifier"]
    assert model.drift_detector.delta == 0.0001 and isinstance(model.warning_detector, drift.NoDrift)
    assert isinstance(model.splitter, tree.splitter.HistogramSplitter) and config.task == "classification"
    regressor = load({"class": "tree.HoeffdingTreeRegressor", "params": {"leaf_prediction": "model"}})
    assert regressor.task == "regression"
