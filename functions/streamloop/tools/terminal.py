"""What the tools show a person, through rich: the progress bar, tables and error lines.

Results go to stdout (what scripts read), progress and errors to stderr. Text is printed as it is: no
markup (``inputs[events]`` stays), no highlighting and no wrapping at the terminal's width, so a line a
script greps for is one line. Off a terminal rich draws no colours and does not redraw: the progress bar
prints its final state once.

>>> from rich.table import Table
>>> table = Table("NAME", "COUNT", box=None, pad_edge=False)
>>> table.add_row("scorer", "7")
>>> print(plain(table))
NAME    COUNT
scorer  7
"""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

UNLIMITED = 10_000  # columns
stderr = Console(stderr=True, markup=False, highlight=False, soft_wrap=True)


class RateColumn(ProgressColumn):
    """Units per second so far, e.g. ``2,480 events/s``."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        elapsed = task.finished_time if task.finished else task.elapsed
        rate = task.completed / elapsed if elapsed else 0.0
        return Text(f"{rate:,.0f} {self.unit}/s", style="progress.data.speed")


def progress_bar(unit: str = "events") -> Progress:
    """A bar on stderr: ``━━━━ 500/1000 events  2,480 events/s  0:00:01`` (use as a context manager)."""
    return Progress(
        BarColumn(),
        MofNCompleteColumn(),
        unit,
        RateColumn(unit),
        TimeRemainingColumn(),
        console=stderr,
    )


def progress_counts(unit: str = "messages") -> Progress:
    """Counts with no known total on stderr, a line per task:
    ``events read 12,000 2,480 messages/s 0:00:05``."""
    return Progress(
        TextColumn("{task.description}", markup=False),
        TextColumn("{task.completed:,.0f}", markup=False),
        RateColumn(unit),
        TimeElapsedColumn(),
        console=stderr,
    )


def sized(renderable: RenderableType, **options: Any) -> Console:
    """A console (on stdout unless ``options`` say otherwise) as wide as ``renderable`` is with no limit:
    rich would squeeze a table to the terminal's width, or to 80 columns off a terminal."""
    console = Console(markup=False, highlight=False, soft_wrap=True, width=UNLIMITED, **options)
    console.width = Measurement.get(console, console.options, renderable).maximum
    return console


def show(renderable: RenderableType) -> None:
    """Print a table on stdout at its natural width: one line per row, whatever the terminal."""
    sized(renderable).print(renderable)


def error(command: str, message: object) -> None:
    """``streamloop <command>: <message>`` on stderr, the prefix in red on a terminal."""
    stderr.print(Text.assemble((f"streamloop {command}: ", "bold red"), str(message)))


def plain(renderable: RenderableType) -> str:
    """The renderable as plain text at its natural width, trailing spaces removed."""
    console = sized(renderable, file=io.StringIO(), color_system=None)
    with console.capture() as captured:
        console.print(renderable)
    return "\n".join(line.rstrip() for line in captured.get().splitlines())
