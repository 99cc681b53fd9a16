"""Gaussian naive Bayes, served as ONNX from the learner, learns as well as river in-process.

Four classes of river's ``RandomRBFDrift`` (moving centroids), labels as strings and 50 events late; the
loop's served predictions are scored against river's ``evaluate.progressive_val_score`` with the same delay.
"""

from __future__ import annotations

from river import datasets, metrics
from served_loop import served_and_river

CLASSES = ["c0", "c1", "c2", "c3"]


def rbf(n: int, seed: int = 5) -> list[tuple[dict, str]]:
    stream = datasets.synth.RandomRBFDrift(
        seed_model=seed, seed_sample=seed, n_classes=4, n_features=5, change_speed=0.001
    )
    return [({f"x{k}": float(v) for k, v in x.items()}, f"c{y}") for x, y in stream.take(n)]


def test_gaussian_nb_on_a_drifting_rbf_is_within_one_point_of_river():
    n = 2000
    steps = [{"class": "naive_bayes.GaussianNB"}]
    served, river = served_and_river(steps, rbf(n), 50, 10, metrics.Accuracy(), start=n // 4, classes=CLASSES)
    assert abs(served - river) <= 0.01, (served, river)
