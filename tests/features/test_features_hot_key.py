"""A hot key: its window state bounded by ``window_max_events``, chunked when large, and never stalling."""

from __future__ import annotations

import orjson

from streamloop.runtime.state import MAX_ENTRY_BYTES
from streamloop.runtime.testing import FunctionHarness
from streamloop.worker.config import topic
from streamloop.worker.features import FeaturesConfig, FeaturesFunction, Featurizer, KeyState
from streamloop.worker.features.store import CHUNKED, state_key

EVENTS, FEATURES = topic("events"), topic("features")
T0 = 1_767_225_600.0
FIELDS = [f"f{i}" for i in range(4)]


def hot_config(**options: object) -> dict:
    features = [{"name": "n_1d", "kind": "window", "agg": "count", "window": 86_400}]
    features += [
        {"name": f"{f}_sum_1d", "kind": "window", "agg": "sum", "field": f, "window": 86_400} for f in FIELDS
    ]
    return {"features": features, **options}


def hot_event(i: int) -> dict:
    """~600 bytes of saved log per event: a long id and four aggregated fields."""
    return {"id": f"{i:0500d}", "key": "hot", "ts": T0 + i, **{f: i / 7 + k for k, f in enumerate(FIELDS)}}


def test_a_key_at_the_maximum_keeps_its_newest_events_and_reloads_the_same() -> None:
    config = FeaturesConfig.model_validate(hot_config(window_max_events=50))
    featurizer = Featurizer(config.features, config.window_max_events)
    state, dropped = featurizer.new_state(), 0
    for i in range(260):
        event = hot_event(i)
        x = featurizer.transform(event, event["ts"], event["id"], state)
        dropped += state.dropped
        kept = [entry[1] for entry in state.log]
        assert 45 <= len(kept) <= 50 or i < 45
        assert kept == [f"{j:0500d}" for j in range(i + 1 - len(kept), i + 1)]  # the newest, in order
        assert x["n_1d"] == len(kept)
        reloaded = KeyState.from_json(featurizer.windows, state.to_json())
        assert [entry[1] for entry in reloaded.log] == kept
        out: dict[str, float] = {}
        featurizer.windows.write(reloaded, None, round(event["ts"] * 1e6), out)
        assert out["f0_sum_1d"] == x["f0_sum_1d"] and out["n_1d"] == x["n_1d"]
    assert dropped == 260 - len(state.log)


def test_a_hot_key_far_beyond_the_state_value_limit_keeps_flowing() -> None:
    n = 5_000  # ~3 MB of log unbounded, three times what one state value may hold; ~1.2 MB bounded
    h = FunctionHarness(
        FeaturesFunction,
        user_config=hot_config(window_max_events=2_000, state_flush_every=500),
        inputs=[EVENTS],
        output=FEATURES,
        retainKeyOrdering=True,
    )
    for i in range(n):
        h.send(hot_event(i), key="hot")
    assert h.unacked == [] and h.dead_letters == []  # every state flush was stored
    counts = [r["x"]["n_1d"] for r in h.records(FEATURES)]
    assert len(counts) == n and max(counts) == 2_000 and min(counts[2_000:]) == 1_800
    assert sum(h.metrics["window_events_dropped"]) == n - counts[-1]

    state = h.state
    assert state[state_key("hot")] == CHUNKED.encode()
    assert all(len(key.encode()) + len(value) <= MAX_ENTRY_BYTES for key, value in state.items())
    manifest = orjson.loads(state[state_key("hot") + "/parts"])
    assert manifest["chunks"] >= 2

    h.restart()  # the next event continues from the chunked state, exactly as without the restart
    h.send(hot_event(n), key="hot")
    config = FeaturesConfig.model_validate(hot_config(window_max_events=2_000))
    featurizer = Featurizer(config.features, config.window_max_events)
    uninterrupted = featurizer.new_state()
    for i in range(n + 1):
        event = hot_event(i)
        expected = featurizer.transform(event, event["ts"], event["id"], uninterrupted)
    assert h.records(FEATURES)[-1]["x"] == expected
