"""The joiner's memory with a full pending set: the RSS of a process whose joiner holds both sides full.

The joiner of ``joiner.yaml`` runs on the embedded runner in a fresh interpreter (``python -m
streamloop.tools.bench.pending``, its inputs as JSON on stdin), so the number is the joiner's and not what
earlier measurements left in the bench's heap. It is filled with ``per_side`` predictions of the demo's
shape that no label matches and as many labels that no prediction matches (``max_pending`` is set to
``per_side``, so nothing expires). The payloads are encoded before the empty joiner is measured; the
growth counts what the joiner keeps plus the embedded transport's bookkeeping per unacked message.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from streamloop.runtime.testing import FunctionHarness
from streamloop.worker.config import topic

PREDICTIONS, LABELS = topic("predictions"), topic("labels")


def measure(config_dir: str | Path, per_side: int, predictions: list[bytes]) -> dict[str, Any]:
    """Run :func:`fill` in a fresh interpreter on ``predictions`` (a sample, reused with new ids)."""
    request = {
        "config": str(Path(config_dir) / "joiner.yaml"),
        "per_side": per_side,
        "predictions": [orjson.loads(p) for p in predictions],
    }
    run = subprocess.run(
        [sys.executable, "-m", __name__],
        input=orjson.dumps(request),
        capture_output=True,
        check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    return {"status": "ok", **orjson.loads(run.stdout)}


def rss_mb() -> float:
    """This process's resident memory now (MB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise OSError("no VmRSS in /proc/self/status")


def fill(config: str, per_side: int, predictions: list[dict[str, Any]]) -> dict[str, Any]:
    """RSS of the joiner empty and with ``per_side`` pending predictions and labels."""
    sent = [
        (PREDICTIONS, f"p{i}", orjson.dumps({**predictions[i % len(predictions)], "id": f"p{i}"}))
        for i in range(per_side)
    ]
    ts = predictions[0]["ts"]
    sent += [
        (LABELS, f"l{i}", orjson.dumps({"id": f"l{i}", "label": True, "ts": ts})) for i in range(per_side)
    ]
    harness = FunctionHarness.from_yaml(config, user_config={"max_pending": per_side})
    gc.collect()
    empty = rss_mb()
    for name, key, payload in sent:
        harness.send(payload, topic=name, key=key)
    gc.collect()
    full = rss_mb()
    joiner = harness.function
    held = len(joiner.predictions) + len(joiner.labels)
    assert held == 2 * per_side, f"{held} of {2 * per_side} pending: some expired or joined"
    return {
        "pending_per_side": per_side,
        "prediction_bytes": round(sum(len(p) for n, _, p in sent if n == PREDICTIONS) / per_side),
        "rss_mb_empty": round(empty, 1),
        "rss_mb_full": round(full, 1),
        "kb_per_pending": round((full - empty) * 1024 / held, 2),
    }


if __name__ == "__main__":
    request = orjson.loads(sys.stdin.buffer.read())
    sys.stdout.buffer.write(
        orjson.dumps(fill(request["config"], request["per_side"], request["predictions"]))
    )
