"""Stateless features: numeric transforms, one-hot, hashing, and the event field checks."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from streamloop.worker.codec import BadMessage, decode_object
from streamloop.worker.features import FeaturesConfig, Featurizer
from streamloop.worker.features.encoders import stable_bucket
from streamloop.worker.messages import entity_key, event_time

T = 1767229200.0  # 2026-01-01T01:00:00Z, a Thursday


def featurize(spec: dict, record: dict, ts: float = T) -> dict[str, float]:
    config = FeaturesConfig.model_validate({"features": [spec]})
    return Featurizer(config.features).transform(record, ts)


def num(**spec: object) -> dict:
    return {"name": "f", "kind": "numeric", "field": "v", **spec}


@pytest.mark.parametrize(
    ("spec", "value", "expected"),
    [
        (num(), 3, 3.0),
        (num(), -2.5, -2.5),
        (num(transform="log1p"), math.e - 1, 1.0),
        (num(transform="clip", min=0, max=10), 11, 10.0),
        (num(transform="clip", min=0, max=10), -1, 0.0),
        (num(transform="clip", max=10), -100, -100.0),
        (num(transform="hour_of_day"), T + 3600 * 5 + 59, 6.0),
        (num(transform="hour_of_day"), "2026-01-01T23:30:00+02:00", 21.0),
        (num(transform="day_of_week"), "2026-01-05", 0.0),  # a Monday, naive = UTC
        (num(transform="day_of_week"), T + 86400 * 3, 6.0),
    ],
)
def test_numeric_transforms(spec: dict, value: object, expected: float) -> None:
    assert featurize(spec, {"v": value}) == {"f": pytest.approx(expected)}


def test_time_transforms_default_to_the_event_time() -> None:
    assert featurize({"name": "h", "kind": "numeric", "transform": "hour_of_day"}, {}, ts=T) == {"h": 1.0}
    assert featurize({"name": "d", "kind": "numeric", "transform": "day_of_week"}, {}, ts=T) == {"d": 3.0}


def test_default_replaces_a_missing_or_null_field() -> None:
    assert featurize(num(default=-1), {}) == {"f": -1.0}
    assert featurize(num(default=-1, transform="log1p"), {"v": None}) == {"f": -1.0}


@pytest.mark.parametrize(
    ("spec", "record", "reason"),
    [
        (num(), {}, "v: missing"),
        (num(), {"v": "3"}, "v: expected a finite number, got str"),
        (num(), {"v": True}, "v: expected a finite number, got bool"),
        (num(), {"v": float("nan")}, "v: expected a finite number, got nan"),
        (num(), {"v": float("-inf")}, "v: expected a finite number, got -inf"),
        (num(), {"v": [1]}, "v: expected a finite number, got list"),
        (num(transform="log1p"), {"v": -1}, "v: log1p needs a value above -1"),
        (num(transform="hour_of_day"), {"v": "yesterday"}, "v: expected epoch seconds or an ISO-8601"),
        (num(transform="hour_of_day"), {"v": 1e20}, "v: 1e+20 is out of range"),
    ],
)
def test_bad_values_name_the_field(spec: dict, record: dict, reason: str) -> None:
    with pytest.raises(BadMessage, match=r"^" + reason.replace("(", r"\(").replace("+", r"\+")):
        featurize(spec, record)


ONEHOT = {"name": "ch", "kind": "onehot", "field": "channel", "values": ["web", "app", "7"]}


def test_onehot_sets_one_column() -> None:
    assert featurize(ONEHOT, {"channel": "app"}) == {"ch=web": 0.0, "ch=app": 1.0, "ch=7": 0.0}
    assert featurize(ONEHOT, {"channel": 7}) == {"ch=web": 0.0, "ch=app": 0.0, "ch=7": 1.0}


def test_onehot_unknown_values() -> None:
    with pytest.raises(BadMessage, match=r"^channel: unknown value 'pos'$"):
        featurize(ONEHOT, {"channel": "pos"})
    with pytest.raises(BadMessage, match=r"^channel: missing$"):
        featurize(ONEHOT, {})
    ignore = {**ONEHOT, "on_unknown": "ignore"}
    assert featurize(ignore, {"channel": "pos"}) == {"ch=web": 0.0, "ch=app": 0.0, "ch=7": 0.0}
    assert featurize(ignore, {}) == {"ch=web": 0.0, "ch=app": 0.0, "ch=7": 0.0}
    with pytest.raises(BadMessage, match=r"^channel: expected a string category, got float$"):
        featurize(ignore, {"channel": 1.5})


HASHED = {"name": "tag", "kind": "hashed", "field": "tags", "buckets": 4}


def test_hashing_counts_tokens() -> None:
    out = featurize(HASHED, {"tags": ["a", "b", "a", 3]})
    assert list(out) == ["tag[0]", "tag[1]", "tag[2]", "tag[3]"]
    assert sum(out.values()) == 4.0
    assert out[f"tag[{stable_bucket('a', 4)}]"] >= 2.0
    assert sum(featurize(HASHED, {"tags": "a"}).values()) == 1.0
    assert sum(featurize(HASHED, {}).values()) == 0.0
    with pytest.raises(BadMessage, match=r"^tags\[1\]: expected a string category, got dict$"):
        featurize(HASHED, {"tags": ["a", {}]})


def test_hashing_is_stable_across_processes() -> None:
    tokens = ["paris", "tokyo", "user-17", "é"]
    script = (
        "from streamloop.worker.features.encoders import stable_bucket; "
        f"print([stable_bucket(t, 1000) for t in {tokens!r}])"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={"PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert runs == {str([stable_bucket(t, 1000) for t in tokens])}


def test_every_record_has_every_feature_in_order() -> None:
    config = FeaturesConfig.model_validate(
        {
            "features": [
                num(default=0),
                {**ONEHOT, "on_unknown": "ignore"},
                HASHED,
                {"name": "h", "kind": "numeric", "transform": "hour_of_day"},
            ]
        }
    )
    featurizer = Featurizer(config.features)
    for record in ({}, {"v": 1, "channel": "web", "tags": ["x"]}, {"channel": "app", "tags": "y"}):
        assert list(featurizer.transform(record, T)) == config.feature_names


def test_event_time_and_key() -> None:
    assert event_time({"ts": 12}, "ts", 0) == 12.0
    assert event_time({"ts": "1970-01-01T00:00:10.5Z"}, "ts", 0) == 10.5
    assert event_time({}, "ts", 2_500) == 2.5
    with pytest.raises(BadMessage, match=r"^ts: missing, and the message has no event time$"):
        event_time({}, "ts", 0)
    with pytest.raises(BadMessage, match=r"^when: expected a finite number, got bool$"):
        event_time({"when": False}, "when", 0)
    assert entity_key({"k": "u1"}, "k", "m") == "u1"
    with pytest.raises(BadMessage, match=r"^k: expected a string or integer key, got float$"):
        entity_key({"k": 1.5}, "k", "m")


def test_decode_object_names_a_nan_field() -> None:
    with pytest.raises(BadMessage, match=r"^amount: expected a finite number, got inf$"):
        decode_object(b'{"id": "e", "amount": Infinity}')
    with pytest.raises(BadMessage, match=r"^payload: invalid JSON"):
        decode_object(b'{"id": "e", ')
    with pytest.raises(BadMessage, match=r"^payload: invalid JSON"):
        decode_object(b"[NaN]")
