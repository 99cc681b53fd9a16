"""Checks shared by the embedded and the real-broker bad-input scenarios."""

from __future__ import annotations

from books import Books, DeadLetter
from corpus import Corpus

DEAD_LETTER_PROPERTIES = {"error", "function", "input_topic", "message_id"}


def check_dead_letters(corpus: Corpus, dead: list[DeadLetter]) -> None:
    """Each bad item is dead-lettered once, by the function expected, with a reason naming the field."""
    wrong: list[str] = []
    by_payload: dict[bytes, list[DeadLetter]] = {}
    for letter in dead:
        by_payload.setdefault(letter.payload, []).append(letter)
        missing = DEAD_LETTER_PROPERTIES - set(letter.properties)
        if missing:
            wrong.append(f"{letter.payload[:60]!r}: dead letter without {sorted(missing)}")
    for item in corpus.bad:
        if item.outcome != "dead":
            continue
        found = by_payload.get(item.payload, [])
        if item.function == "learner":  # the learner sees the joined example, not the label
            found = [d for d in dead if d.function == "learner" and item.key.encode() in d.payload]
        if not found:
            wrong.append(f"{item.name}: no dead letter")
            continue
        letter = found[0]
        error = letter.properties.get("error", "")
        if letter.function != item.function or not error.startswith(f"{item.field}"):
            wrong.append(
                f"{item.name}: dead-lettered by {letter.function} with {error[:200]!r}, "
                f"expected {item.function} naming {item.field!r}"
            )
    assert not wrong, "\n".join(wrong)


def check_bad_input(corpus: Corpus, books: Books, dead: list[DeadLetter]) -> None:
    """The books close, every bad item went where it should, and every good event was predicted."""
    books.check()
    check_dead_letters(corpus, dead)
    assert sum(books.dead_letters.values()) == corpus.count("event", "dead") + corpus.count("label", "dead")
    assert books.expired_labels >= corpus.count("label", "expired")
    good_events = corpus.count("event", "good")
    assert books.predictions == good_events, (books.predictions, good_events)


def check_nothing_lost(corpus: Corpus, books: Books) -> None:
    """A run of good items only, whatever faults it survived: no dead letters, no expired label, every
    labelled event one example and every unlabelled event's prediction expired (pinned on both sides)."""
    books.check()
    labelled = corpus.count("label")
    assert books.dead_letters == {}, books
    assert books.expired_labels == 0, books
    assert books.examples == labelled, (books.examples, labelled)
    assert books.expired_predictions == corpus.count("event") - labelled, books
    assert books.predictions == corpus.count("event"), books
