"""What the broker bench reads of a running function: its ``functions stats`` series, and when it drained.

Every call is bounded; a function not scheduled yet (an admin error) is simply polled again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Set
from typing import Any

from streamloop.tools.admin import Admin, AdminError, rest_path


def function_path(config: dict[str, Any]) -> tuple[str, str]:
    """``(tenant/namespace, name)`` of a FunctionConfig."""
    return f"{config['tenant']}/{config['namespace']}", config["name"]


def poll_processed(
    admin: Admin, function: tuple[str, str], count: int, deadline: float
) -> list[tuple[float, int]]:
    """``(time, processedSuccessfullyTotal)`` every 0.1 s until ``count`` or ``deadline``."""
    series: list[tuple[float, int]] = []
    while time.monotonic() < deadline:
        try:
            stats = admin.function_stats(*function, timeout=10)
            series.append((time.monotonic(), int(stats.get("processedSuccessfullyTotal") or 0)))
        except AdminError:
            pass  # not scheduled yet
        if series and series[-1][1] >= count:
            break
        time.sleep(0.1)
    return series


def drain(
    admin: Admin, configs: Iterable[dict[str, Any]], timeout: float, partitioned: Set[str] = frozenset()
) -> bool:
    """Wait until each function has processed every message published to its inputs (``False``: timed out).

    Between the loop's phases, so a phase's latencies are not those of the previous phase's backlog.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if all(_processed(admin, c) >= _published(admin, c, partitioned) for c in configs):
                return True
        except AdminError:
            pass
        time.sleep(1.0)  # each check is ~10 admin calls: polling faster costs the broker CPU it measures
    return False


def _processed(admin: Admin, config: dict[str, Any]) -> int:
    stats = admin.function_stats(*function_path(config), timeout=10)
    return int(stats.get("processedSuccessfullyTotal") or 0)


def _published(admin: Admin, config: dict[str, Any], partitioned: Set[str]) -> int:
    """Messages published to the function's inputs (a partitioned topic's: summed over its partitions)."""
    total = 0
    for topic in config["inputs"]:
        if topic in partitioned:
            stats = admin.request("GET", f"{rest_path(topic)}/partitioned-stats", timeout=10) or {}
        else:
            stats = admin.topic_stats(topic, timeout=10)
        total += int(stats.get("msgInCounter") or 0)
    return total
