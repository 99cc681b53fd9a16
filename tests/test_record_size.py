"""Every function dead-letters an input over ``max_record_bytes``, naming its size and the limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamloop.runtime.testing import FunctionHarness

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "pulsar-config").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_an_input_over_max_record_bytes_goes_to_dead_letters(path: Path) -> None:
    h = FunctionHarness.from_yaml(path, user_config={"max_record_bytes": 64})
    payload = b'{"id": "e1", "padding": "' + b"p" * 64 + b'"}'
    h.send(payload, topic=h.definition.spec.inputs[0], key="e1")
    (dead,) = h.dead_letters
    assert dead.payload == payload
    assert dead.properties["error"] == f"payload: {len(payload)} bytes, over max_record_bytes 64"
    assert h.unacked == []
