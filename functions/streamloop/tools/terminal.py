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

from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TimeRemainingColumn
from rich.text import Text

stdout = Console(markup=False, highlight=False, soft_wrap=True)
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


def show(renderable: RenderableType) -> None:
    """Print a table on stdout as wide as it needs (off a terminal rich would squeeze it to 80 columns)."""
    width = Measurement.get(stdout, stdout.options, renderable).maximum
    stdout.print(renderable, width=max(width, stdout.width) if stdout.is_terminal else width)


def error(command: str, message: object) -> None:
    """``streamloop <command>: <message>`` on stderr, the prefix in red on a terminal."""
    stderr.print(Text.assemble((f"streamloop {command}: ", "bold red"), str(message)))


def plain(renderable: RenderableType) -> str:
    """The renderable as plain text at its natural width, trailing spaces removed."""
    console = Console(file=io.StringIO(), width=10_000, color_system=None, markup=False, highlight=False)
    width = Measurement.get(console, console.options, renderable).maximum
    with console.capture() as captured:
        console.print(renderable, width=width)
    return "\n".join(line.rstrip() for line in captured.get().splitlines())
