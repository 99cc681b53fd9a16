"""Bad input: malformed events and labels among good ones, on the embedded runner and on real Pulsar.

Each bad message lands in ``dead-letters`` with a reason naming the field (or expires, for a label with
no event, or is processed once, for a duplicate id); nothing crashes or restarts; every good event is
predicted; and the books close. The embedded runner and the deployed functions give the same numbers.
"""

from __future__ import annotations

import time

import pytest
from corpus import build
from embedded import OVERRIDES, run_embedded
from expect import check_bad_input
from scenario import finish, settle
from stage import Stage


def test_bad_input_on_the_embedded_runner() -> None:
    corpus = build()
    books, dead = run_embedded(corpus)
    check_bad_input(corpus, books, dead)


@pytest.mark.pulsar
@pytest.mark.chaos
def test_bad_input_on_pulsar(stage: Stage, report) -> None:
    started = time.monotonic()
    corpus = build()
    stage.deploy(user_config=OVERRIDES)
    stage.send_items(corpus.items)
    # every dead letter but the learner's, which comes once the "not a class" label is joined
    finish(stage, corpus, dead=corpus.count("event", "dead") + corpus.count("label", "dead") - 1)
    books = settle(stage, corpus, checkpoint_every=1)
    check_bad_input(corpus, books, stage.dead_letters())
    embedded, _ = run_embedded(corpus)
    assert books.as_json() == embedded.as_json(), "the embedded runner and Pulsar disagree"
    health = stage.instances_ok()
    books.notes = {"instances": health, "seconds": round(time.monotonic() - started, 1)}
    report.add("bad_input", books.as_json())
    for name, numbers in health.items():
        assert numbers == {"running": 1, "restarts": 0, "system_exceptions": 0, "user_exceptions": 0}, name
