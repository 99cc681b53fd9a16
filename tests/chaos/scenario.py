"""Steps shared by the whole-loop scenarios: drain the stream, send the sentinel, wait for the books."""

from __future__ import annotations

from books import Books, distinct_ids
from checkpoints import learned
from corpus import Corpus
from stage import Stage, wait_for

from streamloop.tools.admin import AdminError


def sent_counts(corpus: Corpus) -> dict[str, int]:
    return {
        "events_in": corpus.count("event"),
        "labels_in": corpus.count("label"),
        "duplicate_events": corpus.count("event", "duplicate"),
        "duplicate_labels": corpus.count("label", "duplicate"),
    }


def finish(stage: Stage, corpus: Corpus, dead: int = 0, timeout: float = 240.0) -> None:
    """Wait until every good event is predicted (and ``dead`` dead letters are in), then send the sentinel.

    The sentinel event's far-future time expires whatever the joiner still holds, so only once the rest
    has settled; its label follows its prediction.
    """
    good = corpus.count("event", "good") - 1
    try:
        wait_for(
            lambda: (
                len(distinct_ids(stage.payloads("predictions"))) == good and len(stage.dead_letters()) >= dead
            ),
            timeout,
            f"{good} predictions and {dead} dead letters",
        )
    except AssertionError as error:
        seen = len(distinct_ids(stage.payloads("predictions")))
        raise AssertionError(
            f"{error}; {seen} predicted; where the stream stands: {stage.progress()}"
        ) from None
    stage.send_items(corpus.sentinel[:1])
    wait_for(
        lambda: "sentinel" in distinct_ids(stage.payloads("predictions")), 60, "the sentinel's prediction"
    )
    stage.send_items(corpus.sentinel[1:])


def settle(stage: Stage, corpus: Corpus, checkpoint_every: int, timeout: float = 180.0) -> Books:
    """The books once they close; the examples after the last full checkpoint batch count as held."""

    last: list[Books] = []

    def closed() -> Books | None:
        try:
            books = stage.books(learned(stage), **sent_counts(corpus))
        except AdminError as error:  # function state unavailable for now (a bookie failing over): poll on
            print(f"settle: {error}")
            return None
        # A checkpoint stores every checkpoint_every learned examples, so what it cannot have stored yet is
        # the last partial batch; the books then close only if every other example was learned once.
        books.learner_held = (books.examples - books.dead("learner")) % checkpoint_every
        last[:] = [books]
        try:
            books.check()
        except AssertionError:
            return None
        return books

    try:
        return wait_for(closed, timeout, "the books to close", every=2.0)
    except AssertionError as error:
        raise AssertionError(f"{error}; last count: {last[0] if last else None}") from None
