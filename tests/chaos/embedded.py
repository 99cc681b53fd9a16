"""The bad-input corpus through the four functions on the embedded runner (no broker)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from books import Books, DeadLetter, distinct_ids
from corpus import Corpus, Item

from streamloop.runtime.runner import Runner
from streamloop.worker.config import topic

CONFIG_DIR = Path(__file__).resolve().parents[2] / "pulsar-config"
# Shorter than the YAML's hour, so the corpus' few hundred seconds of event time can expire something.
OVERRIDES: dict[str, dict[str, Any]] = {"joiner": {"ttl_seconds": 300}, "learner": {"checkpoint_every": 1}}


def examples_without_faults(corpus: Corpus, user_config: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The first example per id of an independent run of ``corpus`` on the embedded runner, no fault."""
    runner = Runner.from_directory(CONFIG_DIR, user_config=user_config)
    runner.start()
    producers = {kind: runner.client.create_producer(topic(f"{kind}s")) for kind in ("event", "label")}
    for item in corpus.items + corpus.sentinel:
        producers[item.kind].send(item.payload, partition_key=item.key or None)
        runner.pump()
    examples = distinct_ids(m.data() for m in runner.client.messages(topic("examples")))
    runner.stop()
    return examples


def run_embedded(corpus: Corpus) -> tuple[Books, list[DeadLetter]]:
    """Send every item (pumping the loop after each) and count what came out."""
    runner = Runner.from_directory(CONFIG_DIR, user_config=OVERRIDES)
    runner.start()
    client = runner.client
    producers = {kind: client.create_producer(topic(f"{kind}s")) for kind in ("event", "label")}
    items: list[Item] = corpus.items + corpus.sentinel
    for item in items:
        producers[item.kind].send(item.payload, partition_key=item.key or None)
        runner.pump()
    learned = runner.instance("learner").function.state.n_learned
    dead = [DeadLetter(m.data(), m.properties()) for m in client.messages(topic("dead-letters"))]
    books = Books.from_topics(
        events_in=corpus.count("event"),
        labels_in=corpus.count("label"),
        duplicate_events=corpus.count("event", "duplicate"),
        duplicate_labels=corpus.count("label", "duplicate"),
        predictions=(m.data() for m in client.messages(topic("predictions"))),
        examples=(m.data() for m in client.messages(topic("examples"))),
        dead_letters=dead,
        metrics=(m.data() for m in client.messages(topic("metrics"))),
        learned=learned,
    )
    runner.stop()
    return books, dead
