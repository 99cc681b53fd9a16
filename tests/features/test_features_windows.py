"""Window aggregates against a brute-force recomputation, out-of-order events, and saved state."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from streamloop.worker.codec import BadMessage
from streamloop.worker.features import FeaturesConfig, Featurizer, KeyState
from streamloop.worker.features.windows import ExtremumWindow

WINDOWS = (5.0, 30.0)
AGGS = ("count", "sum", "mean", "std", "min", "max")


def specs() -> list[dict]:
    out = [{"name": "since", "kind": "window", "agg": "time_since_last", "window": 20}]
    for w in WINDOWS:
        for agg in AGGS:
            field = {} if agg == "count" else {"field": "x" if agg != "min" else "y"}
            out.append({"name": f"{agg}_{w:g}", "kind": "window", "agg": agg, "window": w, **field})
    return out


def random_events(seed: int, n: int = 600) -> list[dict]:
    """Mostly increasing times (ms resolution) with late events, some older than every window, and repeats."""
    rng = random.Random(seed)
    events, now = [], 1_767_225_600_000
    for i in range(n):
        now += rng.choice([0, 1, 250, 800, 3000, 9000])
        late = rng.random()
        ms = now - (
            rng.randrange(1, 8000) if late < 0.2 else rng.randrange(20_000, 60_000) if late < 0.25 else 0
        )
        event = {
            "id": f"e{i}",
            "key": rng.choice("abc"),
            "ts": ms / 1000,
            "x": rng.uniform(-5, 5),
            "y": rng.gauss(0, 1),
        }
        events.append(event)
        if rng.random() < 0.05:
            events.append(dict(rng.choice(events)))  # a redelivered event: same id, same values
    return events


def us(seconds: float) -> int:
    return round(seconds * 1_000_000)


def brute_force(seen: list[dict], event: dict) -> dict[str, float]:
    """Aggregates over the key's distinct events seen so far, in (latest - window, latest]."""
    distinct = list({e["id"]: e for e in seen}.values())
    previous = max((us(e["ts"]) for e in seen[:-1]), default=None)
    latest = max(us(e["ts"]) for e in distinct)
    out = {"since": 20.0 if previous is None else min(max((us(event["ts"]) - previous) / 1e6, 0.0), 20.0)}
    for w in WINDOWS:
        inside = [e for e in distinct if us(e["ts"]) > latest - us(w)]
        xs, ys = [e["x"] for e in inside], [e["y"] for e in inside]
        out.update(
            {
                f"count_{w:g}": float(len(inside)),
                f"sum_{w:g}": math.fsum(xs),
                f"mean_{w:g}": statistics.fmean(xs),
                f"std_{w:g}": statistics.pstdev(xs),
                f"min_{w:g}": min(ys),
                f"max_{w:g}": max(xs),
            }
        )
    return out


@pytest.mark.parametrize("seed", range(5))
def test_windows_match_a_brute_force_recomputation(seed: int) -> None:
    featurizer = Featurizer(FeaturesConfig.model_validate({"features": specs()}).features)
    states: dict[str, KeyState] = {}
    seen: dict[str, list[dict]] = {}
    for event in random_events(seed):
        state = states.setdefault(event["key"], featurizer.new_state())
        history = seen.setdefault(event["key"], [])
        history.append(event)
        got = featurizer.transform(event, event["ts"], event["id"], state)
        assert list(got) == featurizer.feature_names
        assert got == pytest.approx(brute_force(history, event), rel=1e-9, abs=1e-6), event


def test_saved_state_continues_like_the_live_one() -> None:
    featurizer = Featurizer(FeaturesConfig.model_validate({"features": specs()}).features)
    events = random_events(7)
    live: dict[str, KeyState] = {}
    for event in events[:300]:
        featurizer.transform(
            event, event["ts"], event["id"], live.setdefault(event["key"], featurizer.new_state())
        )
    saved = {key: state.to_json() for key, state in live.items()}
    restored = {key: KeyState.from_json(featurizer.windows, text.encode()) for key, text in saved.items()}
    for event in events[300:]:
        args = (event, event["ts"], event["id"])
        a = featurizer.transform(*args, live.setdefault(event["key"], featurizer.new_state()))
        b = featurizer.transform(*args, restored.setdefault(event["key"], featurizer.new_state()))
        assert a == pytest.approx(b, rel=1e-9, abs=1e-6)


def test_saved_state_for_other_fields_is_refused() -> None:
    featurizer = Featurizer(FeaturesConfig.model_validate({"features": specs()}).features)
    with pytest.raises(ValueError, match="saved for fields"):
        KeyState.from_json(featurizer.windows, b'{"fields": ["z"], "log": []}')


def test_late_and_repeated_events() -> None:
    featurizer = Featurizer(
        FeaturesConfig.model_validate(
            {
                "features": [
                    {"name": "n", "kind": "window", "agg": "count", "window": 10},
                    {"name": "gap", "kind": "window", "agg": "time_since_last", "window": 60},
                ]
            }
        ).features
    )
    state = featurizer.new_state()

    def send(event_id: str, ts: float) -> dict[str, float]:
        return featurizer.transform({}, ts, event_id, state)

    assert send("a", 100) == {"n": 1.0, "gap": 60.0}
    assert send("b", 105) == {"n": 2.0, "gap": 5.0}
    assert send("c", 97) == {"n": 3.0, "gap": 0.0}  # late, inside (95, 105]
    assert send("d", 90) == {"n": 3.0, "gap": 0.0}  # too late: older than every window
    assert send("b", 105) == {"n": 3.0, "gap": 0.0}  # a repeat is not counted again
    assert send("e", 107.5) == {"n": 3.0, "gap": 2.5}  # window (97.5, 107.5]: a, b, e (c has left)


def test_window_fields_are_required_numbers() -> None:
    featurizer = Featurizer(
        FeaturesConfig.model_validate(
            {"features": [{"name": "m", "kind": "window", "agg": "mean", "field": "amount", "window": 10}]}
        ).features
    )
    state = featurizer.new_state()
    with pytest.raises(BadMessage, match=r"^amount: missing$"):
        featurizer.transform({}, 1.0, "e1", state)
    with pytest.raises(BadMessage, match=r"^amount: expected a finite number, got str$"):
        featurizer.transform({"amount": "1"}, 1.0, "e1", state)
    assert state.log == []  # a bad message leaves the key untouched


def test_extremum_window_against_brute_force() -> None:
    rng = random.Random(3)
    for minimum in (False, True):
        window, points, latest = ExtremumWindow(100, minimum=minimum), [], 0
        for _ in range(2000):
            t = max(0, latest + rng.randrange(-60, 20))
            latest = max(latest, t)
            x = float(rng.randrange(50))
            if t > latest - 100:
                window.update(x, t, latest)
                points.append((t, x))
            inside = [v for s, v in points if s > latest - 100]
            assert window.get() == (min(inside) if minimum else max(inside))
