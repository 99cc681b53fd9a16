"""The books of a test session's scenarios, written as JSON at its end when an environment variable names
a file (``STREAMLOOP_CHAOS_REPORT``, ``STREAMLOOP_CLUSTER_REPORT``)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class Report:
    """Scenario name → its numbers."""

    def __init__(self) -> None:
        self.scenarios: dict[str, Any] = {}

    def add(self, scenario: str, numbers: dict[str, Any]) -> None:
        self.scenarios[scenario] = numbers

    @classmethod
    def written_to(cls, variable: str) -> Iterator[Report]:
        """For a session fixture: yield a report, then write it to ``$variable`` if that is set."""
        collected = cls()
        yield collected
        path = os.environ.get(variable)
        if path and collected.scenarios:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(json.dumps(collected.scenarios, indent=2, sort_keys=True) + "\n")
