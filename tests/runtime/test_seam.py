"""The seam: functions on the embedded runtime get its driven seam; Pulsar's own Context means threads."""

from __future__ import annotations

from streamloop.runtime.seam import Driven
from streamloop.runtime.testing import FunctionHarness
from streamloop.worker.seam import Threads, seam_of


def test_a_context_without_a_seam_is_a_pulsar_worker():
    assert isinstance(seam_of(object()), Threads)  # Pulsar's ContextImpl carries none


def test_the_embedded_runtime_hands_each_instance_its_driven_seam(relay):
    h = FunctionHarness(relay, user_config={"out": "out"}, parallelism=2)
    for i in range(4):
        h.send({"id": str(i)})
    seams = [f.seam for f in h.functions]
    assert len(seams) == 2 and all(isinstance(s, Driven) for s in seams)
    assert len({id(s) for s in seams}) == len(seams)  # one per instance: each drives its own jobs
