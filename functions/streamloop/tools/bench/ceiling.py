"""The library-chain ceiling: exactly the per-event ML work of the loop, in one tight loop, no transport.

Per event: orjson decode of the raw event, the features spec transform (with the key's window state),
the scorer's ONNX call (:meth:`OnnxModel.predict`), orjson encode of the prediction record, and the
learner's river model: a pure ``predict_one`` then ``learn_one``. No messages, no acks, no validation
beyond what the libraries do: what the loop could reach if streamloop itself cost nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson

from streamloop.tools.bench.workload import Workload
from streamloop.worker.features.featurizer import Featurizer
from streamloop.worker.features.state import KeyState
from streamloop.worker.learner.export import model_to_onnx
from streamloop.worker.learner.models import build_model, pure_inference_mode
from streamloop.worker.messages import features_record, prediction_record
from streamloop.worker.scorer.model import OnnxModel

TRAIN_EVENTS = 500  # the served ONNX model is the learner's model after this many events


class Chain:
    """The per-event steps over one workload, each usable alone (for the breakdown) or chained."""

    def __init__(self, workload: Workload) -> None:
        self.workload = workload
        self.payloads = [orjson.dumps(event) for event in workload.events]
        self.targets = [bool(label["label"]) for label in workload.labels]
        self.featurizer = Featurizer(workload.features.features)
        self.records = [orjson.loads(p) for p in self.payloads]
        self.xs = self._features(self.records)
        self.model = self._onnx_model()

    def _features(self, records: list[dict[str, Any]]) -> list[dict[str, float]]:
        transform = self.featurizer.transform
        states: dict[str, KeyState] = {}
        new_state = self.featurizer.new_state if self.featurizer.stateful else None
        xs = []
        for record in records:
            state = None
            if new_state is not None:
                state = states.get(record["key"]) or states.setdefault(record["key"], new_state())
            xs.append(transform(record, record["ts"], record["id"], state))
        return xs

    def _onnx_model(self) -> OnnxModel:
        learner = self.workload.learner
        river_model = build_model(learner.model)
        for x, y in zip(self.xs[:TRAIN_EVENTS], self.targets, strict=False):
            river_model.learn_one(x, y)
        names = self.featurizer.feature_names
        blob = model_to_onnx(river_model, names, {"version": "1"}, classes=learner.label_classes)
        return OnnxModel.load(blob, learner.model_name, max_bytes=len(blob), expected_features=names)

    # -- the steps, each over the whole workload -----------------------------------------------------
    def decode(self) -> None:
        loads = orjson.loads
        for payload in self.payloads:
            loads(payload)

    def features(self) -> None:
        self._features(self.records)

    def score(self) -> None:
        predict = self.model.predict
        for x in self.xs:
            predict(x)

    def encode(self) -> None:
        dumps, label = orjson.dumps, self.model.label
        proba = {"false": 0.25, "true": 0.75}
        for record, x in zip(self.records, self.xs, strict=True):
            features = features_record(record["id"], record["key"], record["ts"], x)
            dumps(prediction_record(features, label, True, proba))

    def river(self) -> None:
        model = build_model(self.workload.learner.model)
        for x, y in zip(self.xs, self.targets, strict=True):
            with pure_inference_mode():
                model.predict_one(x)
            model.learn_one(x, y)

    def chain(self) -> None:
        """Every step for each event in turn: the ceiling."""
        loads, dumps = orjson.loads, orjson.dumps
        transform = self.featurizer.transform
        new_state = self.featurizer.new_state if self.featurizer.stateful else None
        states: dict[str, KeyState] = {}
        onnx_model = self.model
        river_model = build_model(self.workload.learner.model)
        for payload, y in zip(self.payloads, self.targets, strict=True):
            record = loads(payload)
            key, ts, event_id = record["key"], record["ts"], record["id"]
            state = None
            if new_state is not None:
                state = states.get(key) or states.setdefault(key, new_state())
            x = transform(record, ts, event_id, state)
            prediction = onnx_model.predict(x)
            features = features_record(event_id, key, ts, x)
            dumps(prediction_record(features, onnx_model.label, prediction.y_pred, prediction.proba))
            with pure_inference_mode():
                river_model.predict_one(x)
            river_model.learn_one(x, y)

    @property
    def steps(self) -> dict[str, Callable[[], None]]:
        return {
            "decode": self.decode,
            "features": self.features,
            "onnx_score": self.score,
            "encode": self.encode,
            "river_predict_learn": self.river,
        }


def timed(run: Callable[[], None]) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one call of ``run`` (CPU time ignores other processes on the machine)."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu
