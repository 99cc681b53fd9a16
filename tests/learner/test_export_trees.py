"""Hoeffding trees exported to ONNX predict what river predicts: labels exactly, probabilities and values
to 1e-5, over random streams and hyper-parameters, every kind of split, and rows with unseen features."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from river import tree
from river.tree.nodes.branch import (
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

CLASSES = [
    [False, True],
    [0, 1, 2],
    ["high", "low", "mid", "never"],  # sorted, as river breaks ties; "never" is never learned
]
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
@given(hyper, st.sampled_from(CLASSES), st.integers(0, 10**6), st.integers(50, 600), st.booleans())
def test_hoeffding_tree_classifier_matches_river(params, classes, seed, n, drop):
    model = learn(tree.HoeffdingTreeClassifier(leaf_prediction="mc", **params), n, seed, learned_classes(classes))
    assert_classifier_matches(model, feature_names(random.Random(seed), drop), classes, seed + 1)


@TREE
@given(hyper, st.sampled_from(CLASSES[:2]), st.integers(0, 10**6), st.integers(50, 800), st.booleans())
def test_hoeffding_adaptive_tree_classifier_matches_river(params, classes, seed, n, drop):
    model = tree.HoeffdingAdaptiveTreeClassifier(leaf_prediction="mc", seed=seed, **params)
    learn(model, n, seed, classes)
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
        (lambda: tree.HoeffdingTreeClassifier(leaf_prediction="mc", grace_period=20, delta=0.01), NumericBinaryBranch, TRAINED),
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
    classes = [0, 1, 2]
    model = learn(make(), 3000, seed=7, classes=classes, features=features)
    assert has_branch(model, kind)
    names = ["n", "a", "g", "unseen"] if drop else ["b", "n", "a", "g", "unseen"]
    assert_classifier_matches(model, names, classes, seed=8)


@pytest.mark.parametrize("drop", [False, True], ids=["all-features", "a-split-feature-missing"])
def test_numeric_multiway_regression_splits_match_river(drop):
    splitter = tree.splitter.QOSplitter(radius=0.3, allow_multiway_splits=True)
    model = learn(tree.HoeffdingTreeRegressor(grace_period=30, splitter=splitter, leaf_prediction="mean"), 3000, 7)
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
