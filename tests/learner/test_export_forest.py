"""Adaptive random forests exported to ONNX predict what river predicts: the foreground trees with river's
vote (labels exactly, probabilities and values to 1e-5), over random streams and hyper-parameters."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from river import drift, forest
from tree_streams import assert_classifier_matches, assert_regressor_matches, feature_names, learn

from streamloop.worker.learner.export import UnsupportedModel, check_exportable

FOREST = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])

hyper = st.fixed_dictionaries(
    {
        "n_models": st.integers(1, 5),
        "grace_period": st.integers(10, 60),
        "delta": st.sampled_from([1e-3, 0.01, 0.1]),
        "max_depth": st.sampled_from([None, 3]),
        "nominal_attributes": st.sampled_from([None, ["n"]]),
        "disable_weighted_vote": st.booleans(),
    }
)


@FOREST
@given(
    hyper,
    st.sampled_from([[False, True], [0, 1, 2], ["a", "b", "c"]]).flatmap(st.permutations),
    st.integers(0, 10**6),
    st.booleans(),
)
def test_arf_classifier_matches_river(params, classes, seed, drop):
    model = forest.ARFClassifier(leaf_prediction="mc", seed=seed, drift_detector=drift.ADWIN(0.01), **params)
    learn(model, 500, seed, classes)
    assert_classifier_matches(model, feature_names(random.Random(seed), drop), classes, seed + 1)


@FOREST
@given(hyper, st.sampled_from(["mean", "model", "adaptive"]), st.integers(0, 10**6), st.booleans())
def test_arf_regressor_matches_river(params, leaves, seed, drop):
    model = forest.ARFRegressor(aggregation_method="mean", leaf_prediction=leaves, seed=seed, **params)
    learn(model, 400, seed)
    assert_regressor_matches(model, feature_names(random.Random(seed), drop), seed + 1)


def test_a_forest_with_a_class_it_never_saw_gives_it_probability_zero():
    model = learn(forest.ARFClassifier(n_models=3, leaf_prediction="mc", seed=1), 300, 1, ["x", "y"])
    assert_classifier_matches(model, ["a", "b", "g", "n"], ["w", "x", "y", "z"], seed=2)


@pytest.mark.parametrize(
    ("model", "param"),
    [
        (forest.ARFClassifier(), "leaf_prediction"),  # river's default: naive-Bayes adaptive
        (forest.ARFRegressor(), "aggregation_method"),  # river's default: median
    ],
)
def test_what_is_not_exact_is_refused_naming_the_parameter(model, param):
    with pytest.raises(UnsupportedModel) as error:
        check_exportable(model)
    assert (error.value.step, error.value.param) == (0, param)


def test_a_tie_goes_to_the_class_river_predicts_whatever_the_order_of_classes():
    model = forest.ARFClassifier(n_models=1, leaf_prediction="mc", seed=1)
    model.learn_one({"a": 0.0}, "mid")
    model.learn_one({"a": 1.0}, "high")
    assert model.predict_proba_one({"a": 0.0}) == {"high": 0.5, "mid": 0.5}  # river breaks it by dict order
    for classes in (["mid", "high", "low"], ["low", "high", "mid"]):
        assert_classifier_matches(model, ["a"], classes, seed=0)
