"""A progress bar on stderr: done/total, rate and time left; one line redrawn on a terminal.

Off a terminal (CI logs, pipes) it writes a plain line at most every ``every`` seconds instead of
redrawing, and always a final line.

>>> import io
>>> out = io.StringIO()
>>> bar = Progress(4, unit="events", stream=out, every=0)
>>> for _ in range(4):
...     bar.advance()
>>> bar.close()
>>> out.getvalue().splitlines()[-1].split("  ")[0]
'[##############################] 4/4 events'
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 30


class Progress:
    """Counts work done out of ``total`` and draws it to ``stream`` (default ``sys.stderr``)."""

    def __init__(self, total: int, *, unit: str = "events", stream: TextIO | None = None, every: float = 0.2):
        self.total = max(total, 0)
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.every = every if self.tty else max(every, 2.0 if every else 0.0)
        self.done = 0
        self.started = time.monotonic()
        self._drawn = 0.0
        self._drawn_done = -1

    @property
    def rate(self) -> float:
        """Units per second so far."""
        return self.done / max(time.monotonic() - self.started, 1e-9)

    def line(self) -> str:
        """The bar as text, e.g. ``[#####.....] 500/1000 events  2,480 events/s  ETA 0s``."""
        filled = WIDTH * self.done // self.total if self.total else WIDTH
        rate = self.rate
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        return (
            f"[{'#' * filled}{'.' * (WIDTH - filled)}] {self.done}/{self.total} {self.unit}  "
            f"{rate:,.0f} {self.unit}/s  ETA {eta:.0f}s"
        )

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more; redraw if ``every`` seconds have passed."""
        self.done += n
        now = time.monotonic()
        if now - self._drawn >= self.every:
            self._drawn = now
            self._draw()

    def _draw(self) -> None:
        self._drawn_done = self.done
        self.stream.write(("\r" + self.line()) if self.tty else self.line() + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Draw the final state (unless just drawn) and end the line."""
        if self._drawn_done != self.done:
            self._draw()
        if self.tty:
            self.stream.write("\n")
        self.stream.flush()
