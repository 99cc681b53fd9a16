"""The record shapes of :mod:`streamloop.worker.messages` and :mod:`streamloop.worker.modelcontract`:
whatever a builder writes, its reader gives back; whatever breaks a shape is refused naming the field."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamloop.worker.codec import BadMessage, encode
from streamloop.worker.messages import (
    example_record,
    features_record,
    prediction_record,
    read_example,
    read_features,
    read_label,
    read_prediction,
)
from streamloop.worker.modelcontract import ModelMetadata

names = st.text(min_size=1, max_size=8)
finite = st.floats(allow_nan=False, allow_infinity=False)
int64 = st.integers(-(2**63), 2**63 - 1)  # what JSON (orjson) carries
ids = st.one_of(st.text(min_size=1, max_size=8), int64)
labels = st.one_of(st.booleans(), int64, finite, st.text(max_size=5))


@given(ids, st.text(max_size=8), finite, st.dictionaries(names, finite, max_size=5), labels)
def test_each_record_reads_back_as_its_producer_wrote_it(event_id, key, ts, x, label) -> None:
    features = features_record(str(event_id), key, ts, x)
    assert read_features(encode(features)) == features
    prediction = prediction_record(features, "m:1", label, {"true": 0.5, "false": 0.5})
    assert read_prediction(encode(prediction)) == prediction
    label_record = read_label(encode({"id": event_id, "label": label}))
    assert label_record == {"id": str(event_id), "label": label, "ts": None}
    example = example_record(prediction, label_record)
    assert read_example(encode(example)) == example
    assert set(example) == {"id", "ts", "x", "y", "y_pred", "proba", "model"}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"id": "e1", "x": {"a": true}}', "x.a: expected a finite number, got bool"),
        (b'{"id": "e1", "x": {"a": 1}, "ts": "noon"}', "ts: expected a finite number, got str"),
        (b'{"id": 1.5, "x": {}}', "id: expected a string or integer, got float"),
        (b'{"id": "e1", "x": [1.0]}', "x: expected an object of feature values, got list"),
    ],
)
def test_the_scorer_refuses_a_broken_features_record_naming_the_field(payload: bytes, reason: str) -> None:
    with pytest.raises(BadMessage, match=f"^{reason}$"):
        read_features(payload)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"y": None}, "y: missing"),
        ({"model": 3}, "model: expected a string or null, got int"),
        ({"x": {"a": "1"}}, "x.a: expected a finite number, got str"),
    ],
)
def test_the_learner_refuses_a_broken_example_naming_the_field(change: dict, reason: str) -> None:
    example = {"id": "e1", "ts": 1.0, "x": {"a": 1.0}, "y": True, "y_pred": None, "model": None}
    with pytest.raises(BadMessage, match=f"^{reason}$"):
        read_example(encode({**example, **change}))


@given(
    st.text(min_size=1, max_size=5),
    st.lists(names, min_size=1, max_size=4).map(tuple),
    st.one_of(st.none(), st.lists(st.booleans() | int64 | names, min_size=1, max_size=3).map(tuple)),
    st.dictionaries(st.sampled_from(["n_trained", "created_at", "source", "accuracy"]), names),
)
def test_model_metadata_reads_back_from_its_properties(version, feature_names, classes, extra) -> None:
    task = "regression" if classes is None else "classification"
    metadata = ModelMetadata(version, feature_names, task, classes, extra)
    assert ModelMetadata.parse(metadata.properties()) == metadata
