"""The example configurations (``examples/forest``, ``examples/regression``) replay a small dataset."""

from __future__ import annotations

import re

import orjson
import pytest
from cli_run import REPO, ok, streamloop
from tree_streams import agrawal_events, friedman_events


@pytest.mark.parametrize(
    ("example", "events", "check"),
    [
        ("forest", agrawal_events, lambda p: set(p["proba"]) == {"false", "true"}),
        ("regression", friedman_events, lambda p: p["proba"] is None and isinstance(p["y_pred"], float)),
    ],
)
def test_an_example_replays_and_serves_its_model(tmp_path, example, events, check):
    n = 600
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events(n)))
    replayed = ok(
        streamloop(
            "replay",
            path,
            "--label-field",
            "label",
            "--label-delay",
            50,
            "--config-dir",
            REPO / "examples" / example,
            "--out",
            "out/run",
            "--quiet",
            cwd=tmp_path,
        )
    )
    assert re.search(rf"→ {n} predictions, \d+ examples, 0 dead letters", replayed.stdout)
    predictions = [
        orjson.loads(line) for line in (tmp_path / "out/run/predictions.jsonl").read_bytes().splitlines()
    ]
    served = [p for p in predictions if p["model"] is not None]
    assert served and all(check(p) for p in served)
