"""Test helper: a dataset through the embedded runner's whole loop."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from streamloop.runtime.runner import Runner
from streamloop.tools.replay import replay


def replay_through(runner: Runner, pairs: Sequence[tuple[dict[str, Any], Any]], label_delay: int) -> None:
    """Every ``(event, label)`` of ``pairs`` into ``runner``, the loop processed after each send."""
    replay(
        runner.client,
        (event for event, _ in pairs),
        (label for _, label in pairs),
        label_delay=label_delay,
        on_sent=lambda *_: runner.pump(),
    )
    runner.pump()
