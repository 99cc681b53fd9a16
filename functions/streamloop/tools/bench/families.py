"""Per model family: the learner's examples/s (learn plus export per promotion) and the scorer's cost per row.

Each family is one :class:`Family` entry in :data:`FAMILIES`: a learner ``model`` config (validated as the
learner validates it) and a river ``datasets.synth`` stream that suits it. For each one the bench

- runs the learner's per-example work on ``examples`` examples: a pure ``predict_one``, ``learn_one``, and
  an ONNX export (``model_to_onnx``) every ``promote_every`` examples, as a promotion does;
- then, with the model it learned, scores ``rows`` rows with the scorer's :class:`OnnxModel` (one row per
  call, as the scorer serves) and with river's own ``predict_proba_one`` (``predict_one`` for a regressor).

Adding a family is adding one entry to :data:`FAMILIES`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from river import datasets

from streamloop.tools.bench.ceiling import timed
from streamloop.worker.learner.export import model_to_onnx
from streamloop.worker.learner.models import ModelSpec, build_model, model_task, pure_inference_mode
from streamloop.worker.scorer.model import OnnxModel

Example = tuple[dict[str, float], Any]


@dataclass(frozen=True)
class Family:
    """One model family: its learner ``model`` config and a stream that suits it (``stream(seed)``)."""

    name: str
    model: dict[str, Any]
    stream: Callable[[int], Iterable[Example]]
    classes: tuple[Any, ...] = (False, True)  # classification: the labels of the probabilities' columns
    promote_every: int = 500  # examples between exports

    def spec(self) -> ModelSpec:
        return ModelSpec.model_validate(self.model)


def _named(stream: Iterable[tuple[dict[Any, Any], Any]], target: Callable[[Any], Any]) -> Iterator[Example]:
    """String feature names and float values (what the scorer sees), and the target as the learner gets it."""
    for x, y in stream:
        yield {f"x{k}" if isinstance(k, int) else str(k): float(v) for k, v in x.items()}, target(y)


def agrawal(seed: int) -> Iterator[Example]:
    return _named(datasets.synth.Agrawal(classification_function=0, seed=seed), bool)


def sea(seed: int) -> Iterator[Example]:
    return _named(datasets.synth.SEA(variant=0, seed=seed), bool)


def friedman(seed: int) -> Iterator[Example]:
    return _named(
        datasets.synth.FriedmanDrift(drift_type="gra", position=(10**5, 2 * 10**5), seed=seed), float
    )


def random_rbf(seed: int) -> Iterator[Example]:
    """Four classes, drifting centroids (``synth.RandomRBFDrift``), labels as strings."""
    stream = datasets.synth.RandomRBFDrift(
        seed_model=seed, seed_sample=seed, n_classes=4, n_features=6, change_speed=0.001
    )
    return _named(stream, lambda y: f"c{y}")


def _steps(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"steps": list(steps)}


SCALER = {"class": "preprocessing.StandardScaler"}

#: The benchmarked families, one entry each.
FAMILIES: list[Family] = [
    Family(
        "logistic_regression",
        _steps(SCALER, {"class": "linear_model.LogisticRegression"}),
        agrawal,
    ),
    Family(
        "softmax_regression",
        _steps(SCALER, {"class": "linear_model.SoftmaxRegression"}),
        random_rbf,
        classes=("c0", "c1", "c2", "c3"),
    ),
    Family(
        "gaussian_nb",
        _steps({"class": "naive_bayes.GaussianNB"}),
        random_rbf,
        classes=("c0", "c1", "c2", "c3"),
    ),
    Family(
        "hoeffding_tree",
        _steps(
            {"class": "tree.HoeffdingTreeClassifier", "params": {"leaf_prediction": "mc", "grace_period": 50}}
        ),
        sea,
    ),
    Family(
        "arf_10_trees",
        _steps(
            {"class": "forest.ARFClassifier", "params": {"n_models": 10, "leaf_prediction": "mc", "seed": 1}}
        ),
        agrawal,
    ),
    Family(
        "hoeffding_tree_regressor",
        _steps({"class": "tree.HoeffdingTreeRegressor", "params": {"grace_period": 50}}),
        friedman,
    ),
    Family(
        "pa_regressor",
        _steps({"class": "preprocessing.MinMaxScaler"}, {"class": "linear_model.PARegressor"}),
        friedman,
    ),
]


def measure_family(family: Family, examples: int, rows: int, seed: int = 42) -> dict[str, Any]:
    """The learner's and the scorer's rates for ``family`` (CPU time: other processes do not count)."""
    data = list(itertools.islice(family.stream(seed), examples + rows))
    train, score = data[:examples], [x for x, _ in data[examples:]]
    model = build_model(family.spec())
    names = list(train[0][0])
    exports: list[bytes] = []

    def learn() -> None:
        for i, (x, y) in enumerate(train, 1):
            with pure_inference_mode():
                model.predict_one(x)
            model.learn_one(x, y)
            if i % family.promote_every == 0:
                exports.append(model_to_onnx(model, names, {"version": str(i)}, classes=family.classes))

    _, learn_cpu = timed(learn)
    blob = exports[-1] if exports else model_to_onnx(model, names, {"version": "0"}, classes=family.classes)
    served = OnnxModel.load(blob, family.name, max_bytes=len(blob), expected_features=names)
    river_predict = model.predict_proba_one if model_task(model) == "classification" else model.predict_one

    def onnx_rows() -> None:
        for x in score:
            served.predict(x)

    def river_rows() -> None:
        with pure_inference_mode():
            for x in score:
                river_predict(x)

    _, export_cpu = timed(lambda: model_to_onnx(model, names, {"version": "x"}, classes=family.classes))
    _, onnx_cpu = timed(onnx_rows)
    _, river_cpu = timed(river_rows)
    return {
        "status": "ok",
        "model": " | ".join(step["class"] for step in family.model["steps"]),
        "examples": examples,
        "promote_every": family.promote_every,
        "learner_examples_per_cpu_s": round(examples / learn_cpu, 1),
        "export_ms": round(export_cpu * 1e3, 3),
        "onnx_bytes": len(blob),
        "rows": rows,
        "onnx_us_per_row": round(onnx_cpu / rows * 1e6, 2),
        "river_us_per_row": round(river_cpu / rows * 1e6, 2),
    }


def measure(examples: int, rows: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """The ``families`` section: one entry per family of :data:`FAMILIES`."""
    out: dict[str, Any] = {"status": "ok"}
    for family in FAMILIES:
        out[family.name] = entry = measure_family(family, examples, rows)
        progress(
            f"family {family.name}: learner {entry['learner_examples_per_cpu_s']:,.0f} examples/s, "
            f"ONNX {entry['onnx_us_per_row']:.1f} µs/row vs river {entry['river_us_per_row']:.1f} µs/row"
        )
    return out
