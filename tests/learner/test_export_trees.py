"""Hoeffding trees exported to ONNX predict what river predicts: labels exactly, probabilities and values
to 1e-5, over random streams and hyper-parameters, every kind of split, and rows with unseen features."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from river import tree
from river.tree.nodes.branch import (
    DTBranch,
    NominalBinaryBranch,
    NominalMultiwayBranch,
    NumericBinaryBranch,
    NumericMultiwayBranch,
)
from tree_streams import (
    TRAINED,
    assert_classifier_matches,
    assert_regressor_matches,
    feature_names,
    learn,
)

from streamloop.worker.learner.export import UnsupportedModel, check_exportable

CLASS_SETS = [[False, True], [0, 1, 2], ["high", "low", "mid", "never"]]  # "never" is never learned
# any order: probabilities follow it, and ties still go where river's predict_one sends them
classes_in_any_order = st.sampled_from(CLASS_SETS).flatmap(st.permutations)
TREE = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])

hyper = st.fixed_dictionaries(
    {
        "grace_period": st.integers(5, 60),
        "delta": st.sampled_from([1e-7, 1e-3, 0.05]),
        "tau": st.sampled_from([0.01, 0.05, 0.2]),
        "max_depth": st.sampled_from([None, 2, 5]),
        "nominal_attributes": st.sampled_from([None, ["n"]]),
        "binary_split": st.booleans(),
    }
)


def learned_classes(classes: list) -> list:
    return [c for c in classes if c != "never"]


@TREE
@given(hyper, classes_in_any_order, st.integers(0, 10**6), st.integers(50, 600), st.booleans())
def test_hoeffding_tree_classifier_matches_river(params, classes, seed, n, drop):
    model = learn(
        tree.HoeffdingTreeClassifier(leaf_prediction="mc", **params), n, seed, learned_classes(classes)
    )
    assert_classifier_matches(model, feature_names(random.Random(seed), drop), classes, seed + 1)


@TREE
@given(hyper, classes_in_any_order, st.integers(0, 10**6), st.integers(50, 800), st.booleans())
def test_hoeffding_adaptive_tree_classifier_matches_river(params, classes, seed, n, drop):
    model = tree.HoeffdingAdaptiveTreeClassifier(leaf_prediction="mc", seed=seed, **params)
    learn(model, n, seed, learned_classes(classes))
    assert_classifier_matches(model, feature_names(random.Random(seed), drop), classes, seed + 1)


@TREE
@given(
    hyper,
    st.sampled_from(["mean", "model", "adaptive"]),
    st.sampled_from([None, "qo-multiway", "tebst"]),
    st.integers(0, 10**6),
    st.integers(50, 600),
    st.booleans(),
)
def test_hoeffding_tree_regressor_matches_river(params, leaves, splitter, seed, n, drop):
    splitters = {
        None: None,
        "qo-multiway": tree.splitter.QOSplitter(radius=0.25, allow_multiway_splits=True),
        "tebst": tree.splitter.TEBSTSplitter(digits=2),
    }
    model = tree.HoeffdingTreeRegressor(leaf_prediction=leaves, splitter=splitters[splitter], **params)
    learn(model, n, seed)
    assert_regressor_matches(model, feature_names(random.Random(seed), drop), seed + 1)


def has_branch(model, kind: type) -> bool:
    return model._root is not None and any(isinstance(node, kind) for node in model._root.iter_dfs())


@pytest.mark.parametrize(
    ("make", "kind", "features"),
    [
        (
            lambda: tree.HoeffdingTreeClassifier(leaf_prediction="mc", grace_period=20, delta=0.01),
            NumericBinaryBranch,
            TRAINED,
        ),
        (
            lambda: tree.HoeffdingTreeClassifier(
                leaf_prediction="mc", grace_period=20, delta=0.01, nominal_attributes=["n"]
            ),
            NominalMultiwayBranch,
            TRAINED,
        ),
        (
            lambda: tree.HoeffdingTreeClassifier(
                leaf_prediction="mc", grace_period=20, delta=0.01, nominal_attributes=["n"], binary_split=True
            ),
            NominalBinaryBranch,
            ["n", "g"],
        ),
        (
            lambda: tree.HoeffdingAdaptiveTreeClassifier(
                leaf_prediction="mc", grace_period=20, delta=0.01, nominal_attributes=["n"], seed=3
            ),
            NominalMultiwayBranch,
            TRAINED,
        ),
    ],
    ids=["numeric-binary", "nominal-multiway", "nominal-binary", "adaptive-nominal-multiway"],
)
@pytest.mark.parametrize("drop", [False, True], ids=["all-features", "a-split-feature-missing"])
def test_every_kind_of_classification_split_matches_river(make, kind, features, drop):
    """Rows include nominal values no branch has (river's most common path), and, dropped from the
    model's features, a feature the tree splits on (river's most common path again)."""
    classes = [2, 0, 1]
    model = learn(make(), 3000, seed=7, classes=classes, features=features)
    assert has_branch(model, kind)
    names = ["n", "a", "g", "unseen"] if drop else ["b", "n", "a", "g", "unseen"]
    assert_classifier_matches(model, names, classes, seed=8)


def test_an_alternate_tree_reached_through_a_missing_feature_votes_twice_as_in_river():
    """river's ``walk`` yields the node it reaches through ``most_common_path()`` twice, so the adaptive
    tree adds that node's alternate-tree vote twice."""
    model = tree.HoeffdingAdaptiveTreeClassifier(leaf_prediction="mc", grace_period=20, delta=0.01, seed=2)
    learn(model, 2000, seed=2, classes=[0, 1, 2], drift_at=1000)
    branches = [node for node in model._root.iter_dfs() if isinstance(node, DTBranch)]
    missing = {b.feature for b in branches if getattr(b.most_common_path()[1], "_alternate_tree", None)}
    assert missing  # a branch whose most common child has an alternate tree: drop its feature
    names = [f for f in ["a", "b", "g", "n", "unseen"] if f not in missing]
    assert_classifier_matches(model, names, [0, 1, 2], seed=3)


@pytest.mark.parametrize("drop", [False, True], ids=["all-features", "a-split-feature-missing"])
def test_numeric_multiway_regression_splits_match_river(drop):
    splitter = tree.splitter.QOSplitter(radius=0.3, allow_multiway_splits=True)
    model = learn(
        tree.HoeffdingTreeRegressor(grace_period=30, splitter=splitter, leaf_prediction="mean"), 3000, 7
    )
    assert has_branch(model, NumericMultiwayBranch)
    names = ["n", "g", "b", "unseen"] if drop else ["a", "n", "g", "b", "unseen"]
    assert_regressor_matches(model, names, seed=8)


@pytest.mark.parametrize(
    ("model", "param"),
    [
        (tree.HoeffdingTreeClassifier(), "leaf_prediction"),  # river's default: naive-Bayes adaptive
        (tree.HoeffdingTreeClassifier(leaf_prediction="nb"), "leaf_prediction"),
        (tree.HoeffdingAdaptiveTreeClassifier(leaf_prediction="nba"), "leaf_prediction"),
    ],
)
def test_naive_bayes_leaves_are_refused_naming_the_parameter(model, param):
    with pytest.raises(UnsupportedModel, match="naive-Bayes") as error:
        check_exportable(model)
    assert (error.value.step, error.value.param) == (0, param)


@pytest.mark.parametrize(
    ("model", "labels"),
    [
        (tree.HoeffdingTreeClassifier(leaf_prediction="mc"), ["mid", "high"]),
        (tree.HoeffdingAdaptiveTreeClassifier(leaf_prediction="mc", seed=1), ["mid", "high", "mid"]),
    ],
    ids=["hoeffding", "adaptive"],
)
def test_a_tie_goes_to_the_class_river_predicts_whatever_the_order_of_classes(model, labels):
    for y in labels:
        model.learn_one({"a": 0.0}, y)
    assert model.predict_proba_one({"a": 0.0}) == {"high": 0.5, "mid": 0.5}  # river breaks it by dict order
    for classes in (["mid", "high", "low"], ["low", "high", "mid"]):
        assert_classifier_matches(model, ["a"], classes, seed=0)
