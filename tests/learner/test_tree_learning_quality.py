"""Trees and forests learn in the loop as well as in river: the served predictions (learner on the
embedded harness, each event scored by the last published ONNX, labels late) against river's own
``progressive_val_score`` with the same model and label delay, on drifting ``datasets.synth`` streams."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from river import datasets, metrics
from served_loop import served_and_river

DELAY = 100


def drifting(make: Callable[[int, int], Any], n: int, seed: int) -> Iterator[tuple[dict, Any]]:
    """``make(variant, seed)``'s first concept, drifting to its second half way through ``n`` examples."""
    stream = datasets.synth.ConceptDriftStream(
        stream=make(0, seed),
        drift_stream=make(1, seed + 1),
        position=n // 2,
        width=max(50, n // 40),  # river overflows for a narrow drift far from the start
        seed=seed + 2,
    )
    return itertools.islice(stream, n)


def agrawal(n: int, seed: int = 1) -> list[tuple[dict, bool]]:
    def make(variant: int, seed: int) -> Any:
        return datasets.synth.Agrawal(classification_function=(0, 4)[variant], seed=seed)

    return [({k: float(v) for k, v in x.items()}, bool(y)) for x, y in drifting(make, n, seed)]


def sea(n: int, seed: int = 1) -> list[tuple[dict, bool]]:
    def make(variant: int, seed: int) -> Any:
        return datasets.synth.SEA(variant=(0, 2)[variant], seed=seed)

    return [({f"x{k}": float(v) for k, v in x.items()}, bool(y)) for x, y in drifting(make, n, seed)]


def friedman(n: int, seed: int = 1) -> list[tuple[dict, float]]:
    stream = datasets.synth.FriedmanDrift(drift_type="gra", position=(n // 3, 2 * n // 3), seed=seed)
    return [({f"x{k}": float(v) for k, v in x.items()}, float(y)) for x, y in itertools.islice(stream, n)]


def test_arf_on_drifting_agrawal_is_within_one_point_of_river():
    n = 1500
    steps = [{"class": "forest.ARFClassifier", "params": {"n_models": 3, "leaf_prediction": "mc", "seed": 1}}]
    served, river = served_and_river(steps, agrawal(n), DELAY, 10, metrics.Accuracy(), start=n // 4)
    assert served >= 0.7 and abs(served - river) <= 0.01


def test_hoeffding_tree_on_drifting_sea_is_within_one_point_of_river():
    n = 2000
    steps = [
        {"class": "tree.HoeffdingTreeClassifier", "params": {"leaf_prediction": "mc", "grace_period": 50}}
    ]
    served, river = served_and_river(steps, sea(n), DELAY, 50, metrics.Accuracy(), start=n // 4)
    assert served >= 0.7 and abs(served - river) <= 0.01


@pytest.mark.parametrize("leaves", ["mean", "adaptive"])
def test_tree_regressor_on_drifting_friedman_is_within_two_percent_of_river(leaves):
    n = 2000
    steps = [
        {"class": "tree.HoeffdingTreeRegressor", "params": {"grace_period": 50, "leaf_prediction": leaves}}
    ]
    served, river = served_and_river(steps, friedman(n), DELAY, 50, metrics.MAE(), start=n // 4)
    assert abs(served - river) <= 0.02 * river
