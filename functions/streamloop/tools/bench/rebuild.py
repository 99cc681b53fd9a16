"""How ``streamloop rebuild`` scales with the history: its events per second (CPU time, the pure rebuild:
point-in-time features and the label join, no broker) at two history sizes, four times apart, measured
round by round in alternating order so that load affects both alike. A ratio of the two rates near 1 means
the cost is linear in the history; reading the topics adds the broker's read rate on top.

>>> section = measure(Workload.demo(200), rounds=1, progress=lambda text: None)
>>> section["events"], section["examples"]
([200, 800], [200, 800])
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import orjson

from streamloop.tools.bench.ceiling import timed
from streamloop.tools.bench.workload import Workload
from streamloop.tools.rebuild import Inbound, rebuild

GROWTH = 4


def _messages(records: list[dict[str, Any]], key_field: str) -> list[Inbound]:
    return [
        Inbound(orjson.dumps(r), str(r.get(key_field) or r["id"]), 0, f"{i}:0") for i, r in enumerate(records)
    ]


def measure(workload: Workload, rounds: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """Rebuild rates for ``workload``'s size and ``GROWTH`` times it."""
    small = len(workload)
    histories = {small: workload, GROWTH * small: Workload.demo(GROWTH * small, workload.config_dir)}
    inputs = {
        n: (_messages(w.events, w.features.key_field), _messages(w.labels, "id"))
        for n, w in histories.items()
    }
    cpu: dict[int, list[float]] = {n: [] for n in histories}
    examples: dict[int, int] = {}
    for r in range(rounds):
        for n in sorted(histories, reverse=r % 2 == 1):
            events, labels = inputs[n]

            def run(n: int = n, events: list[Inbound] = events, labels: list[Inbound] = labels) -> None:
                examples[n] = len(rebuild(events, labels, histories[n].features).examples)

            cpu[n].append(timed(run)[1])
        progress(
            "rebuild round "
            f"{r + 1}/{rounds}: " + ", ".join(f"{n} events {n / cpu[n][-1]:,.0f} ev/s" for n in sorted(cpu))
        )
    rates = {n: n / statistics.median(seconds) for n, seconds in cpu.items()}
    return {
        "status": "ok",
        "events": sorted(rates),
        "examples": [examples[n] for n in sorted(rates)],
        "events_per_cpu_s": [round(rates[n]) for n in sorted(rates)],
        "runs_cpu_s": [[round(s, 4) for s in cpu[n]] for n in sorted(cpu)],
        "ratio_large_to_small": round(rates[GROWTH * small] / rates[small], 3),
    }
