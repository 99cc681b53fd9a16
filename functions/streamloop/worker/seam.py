"""The one seam between a Pulsar worker and the embedded runtime: who runs a function's background work.

A function does two things behind its processing thread: it stores state
(:mod:`~streamloop.worker.writebehind`) and, for the scorer, follows the models topic
(:mod:`~streamloop.worker.scorer.feed`). Each is a
:class:`Background` job whose :meth:`~Background.step` does one piece of work. The code of every step is
the same everywhere; only who calls it differs:

- on a Pulsar worker (:class:`Threads`, the default: Pulsar's own Context carries no seam), each job runs
  on its own daemon thread, which waits for work and retries a failed step with a back-off;
- the embedded runtime hands its own seam on its Context (attribute :data:`CONTEXT_ATTRIBUTE`), which runs
  every step between two messages, so runs stay deterministic.

The function base reads the seam once (:func:`seam_of`); no other worker module asks what it runs on.

>>> class Countdown:
...     name = "countdown"
...     def __init__(self): self.left = 3
...     def step(self, timeout):
...         if not self.left: raise Finished
...         self.left -= 1
...         return True
>>> job = Countdown()
>>> thread = Threads().run_behind(job); thread.join(5)
>>> job.left, thread.is_alive()
(0, False)
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Protocol

log = logging.getLogger("streamloop")

CONTEXT_ATTRIBUTE = "streamloop_seam"
WAIT_SECONDS = 1.0  # how long a thread's step waits for work before it is called again
RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0, 10.0)  # back-off between failed steps; the last repeats


class Finished(Exception):
    """Raised by a step when its job will never have work again (its reader is closed)."""


class Background(Protocol):
    """Work a function does behind its processing thread, one step at a time."""

    name: str

    def step(self, timeout: float) -> bool:
        """Do one piece of work, waiting up to ``timeout`` seconds for some; ``False`` if none came.

        Raises what went wrong (the step is retried) or :class:`Finished`.
        """
        ...


class Seam(Protocol):
    """Runs a function's :class:`Background` jobs."""

    def run_behind(self, job: Background) -> Any:
        """Start running ``job``'s steps; returns what keeps it alive."""
        ...


class Threads:
    """A Pulsar worker's seam: every job on its own daemon thread."""

    def run_behind(self, job: Background) -> threading.Thread:
        thread = threading.Thread(target=self._run, args=(job,), name=f"streamloop-{job.name}", daemon=True)
        thread.start()
        return thread

    @staticmethod
    def _run(job: Background) -> None:
        failures = 0
        while True:
            try:
                job.step(WAIT_SECONDS)
            except Finished:
                return
            except Exception:
                delay = retry_delay(failures)
                log.exception("%s: failed; retrying in %.1f s", job.name, delay)
                failures += 1
                time.sleep(delay)
            else:
                failures = 0


def retry_delay(failures: int) -> float:
    """The wait after ``failures`` failures in a row (0: the first): RETRY_SECONDS, the last repeating.

    >>> [retry_delay(n) for n in (0, 1, 4, 9)]
    [0.5, 1.0, 10.0, 10.0]
    """
    return RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]


def seam_of(context: Any) -> Seam:
    """The seam the runtime handed over on ``context``; Pulsar's own Context has none: a worker's threads."""
    seam = getattr(context, CONTEXT_ATTRIBUTE, None)
    return Threads() if seam is None else seam
