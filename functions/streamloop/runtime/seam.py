"""The embedded runtime's seam: a function's background jobs run between two messages, deterministically.

The jobs are the worker's own (:mod:`streamloop.worker.seam`): the state writer, the scorer's model feed.
On a Pulsar worker each runs on a thread; here whoever drives the instance (the runner's pump, or the
instance's thread in threaded mode) calls :meth:`Driven.run` after each message, which steps every job
until none has work left, never waiting. A failed step is logged and retried on the next run.

>>> class Once:
...     name = "once"
...     done = False
...     def step(self, timeout):
...         was, self.done = self.done, True
...         return not was
>>> seam = Driven(); _ = seam.run_behind(Once())
>>> seam.run(), seam.run()
(1, 0)
"""

from __future__ import annotations

import logging

from streamloop.worker.seam import Background, Finished

log = logging.getLogger("streamloop.runtime")


class Driven:
    """Background jobs stepped by :meth:`run`, on the caller's thread."""

    def __init__(self) -> None:
        self._jobs: tuple[Background, ...] = ()  # replaced, never changed: a run steps the jobs it began with

    def run_behind(self, job: Background) -> Background:
        self._jobs = (*self._jobs, job)
        return job

    def run(self) -> int:
        """Step every job until none has work left; returns the steps that did work."""
        done = 0
        for job in self._jobs:
            try:
                while job.step(0):
                    done += 1
            except Finished:
                self._jobs = tuple(other for other in self._jobs if other is not job)
            except Exception:
                log.exception("%s: failed; retried on the next run", job.name)
        return done
