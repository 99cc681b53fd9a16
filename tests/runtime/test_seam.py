"""The seam: functions on the embedded runtime get its driven seam; Pulsar's own Context means threads."""

from __future__ import annotations

from streamloop.runtime.seam import Driven
from streamloop.runtime.testing import FunctionHarness
from streamloop.worker.seam import Finished, Threads, seam_of


def test_a_context_without_a_seam_is_a_pulsar_worker():
    assert isinstance(seam_of(object()), Threads)  # Pulsar's ContextImpl carries none


def test_the_embedded_runtime_hands_each_instance_its_driven_seam(relay):
    h = FunctionHarness(relay, user_config={"out": "out"}, parallelism=2)
    for i in range(4):
        h.send({"id": str(i)})
    seams = [f.seam for f in h.functions]
    assert len(seams) == 2 and all(isinstance(s, Driven) for s in seams)
    assert len({id(s) for s in seams}) == len(seams)  # one per instance: each drives its own jobs


class Steps:
    """A job with ``work`` steps to do, then (``finish``) done for good; ``then`` runs at its first step."""

    def __init__(self, name, work, finish=False, then=None):
        self.name, self.work, self.finish, self.then, self.calls = name, work, finish, then, 0

    def step(self, timeout):
        self.calls += 1
        if self.then is not None:
            then, self.then = self.then, None
            then()
        if self.work:
            self.work -= 1
            return True
        if self.finish:
            raise Finished
        return False


def test_a_driven_run_steps_every_job_until_idle_and_drops_a_finished_one():
    seam = Driven()
    done = seam.run_behind(Steps("done", 1, finish=True))
    busy = seam.run_behind(Steps("busy", 2))
    assert seam.run() == 3
    assert seam.run() == 0
    assert done.calls == 2 and busy.calls == 4  # the finished job is never stepped again


def test_a_job_started_during_a_run_is_stepped_from_the_next_run():
    seam = Driven()
    late = Steps("late", 1)
    seam.run_behind(Steps("starter", 0, then=lambda: seam.run_behind(late)))
    assert seam.run() == 0 and late.calls == 0
    assert seam.run() == 1 and late.calls == 2
