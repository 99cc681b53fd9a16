"""The books of one chaos scenario: what went in, what came out, and the arithmetic that must close.

Every input message ends in exactly one place: an event is predicted (by distinct id), dead-lettered or a
duplicate of one already predicted; a label is joined into an example, dead-lettered, expired or a
duplicate; a prediction is joined or expires; an example is learned or dead-lettered. :meth:`Books.check`
asserts all four equations, so a message lost anywhere fails the scenario. After a joiner restart a
redelivered copy of an already joined prediction (or label) can wait and expire (the joiner's memory of
joined ids is lost): such an id counts as joined, and ``expired_copies_of_joined`` says how many.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson


@dataclass
class DeadLetter:
    payload: bytes
    properties: dict[str, str]

    @property
    def function(self) -> str:
        return self.properties.get("function", "")


@dataclass
class Books:
    """Counts of one run; ``None`` for what a scenario does not measure."""

    events_in: int = 0
    labels_in: int = 0
    duplicate_events: int = 0
    duplicate_labels: int = 0
    predictions: int = 0
    examples: int = 0
    learned: int | None = None
    learner_held: int = 0
    """Examples learned after the learner's last checkpoint: held unacked until the next one."""
    dead_letters: dict[str, int] = field(default_factory=dict)
    expired_predictions: int = 0
    expired_labels: int = 0
    expired_copies_of_joined: int = 0
    model_rejections: int = 0
    final_model_equals_reference: bool | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_topics(
        cls,
        *,
        events_in: int,
        predictions: Iterable[bytes],
        dead_letters: Iterable[DeadLetter],
        metrics: Iterable[bytes],
        duplicate_events: int = 0,
        labels_in: int = 0,
        duplicate_labels: int = 0,
        examples: Iterable[bytes] = (),
        learned: int | None = None,
    ) -> Books:
        """Count distinct ids on the output topics, dead letters by function, and expiries by id.

        The label-side arguments default to none, for scenarios that stop at the scorer.
        """
        expired: dict[str, set[str]] = {"prediction": set(), "label": set()}
        rejections = 0
        for payload in metrics:
            record = orjson.loads(payload)
            if record.get("event") == "expired":
                expired[record["side"]].update(record["ids"])
            elif record.get("event") == "rejection":
                rejections += 1
        joined = set(distinct_ids(examples))
        return cls(
            events_in=events_in,
            labels_in=labels_in,
            duplicate_events=duplicate_events,
            duplicate_labels=duplicate_labels,
            predictions=len(distinct_ids(predictions)),
            examples=len(joined),
            learned=learned,
            dead_letters=dict(Counter(d.function for d in dead_letters)),
            expired_predictions=len(expired["prediction"] - joined),
            expired_labels=len(expired["label"] - joined),
            expired_copies_of_joined=len(expired["prediction"] & joined) + len(expired["label"] & joined),
            model_rejections=rejections,
        )

    def dead(self, *functions: str) -> int:
        return sum(self.dead_letters.get(f, 0) for f in functions)

    def check(self, through: str = "learner") -> None:
        """Assert that every message is accounted for exactly once, up to the ``scorer`` or ``learner``."""
        assert self.events_in == self.predictions + self.dead("features", "scorer") + self.duplicate_events, (
            "events in != distinct predicted ids + dead letters + duplicates",
            self,
        )
        if through == "scorer":
            return
        assert self.labels_in == (
            self.examples + self.dead("joiner") + self.expired_labels + self.duplicate_labels
        ), ("labels in != examples + dead letters + expired labels + duplicates", self)
        assert self.predictions == self.examples + self.expired_predictions, (
            "predicted ids != examples + expired predictions",
            self,
        )
        if self.learned is not None:
            assert self.examples == self.learned + self.learner_held + self.dead("learner"), (
                "examples != learned + held + learner dead letters",
                self,
            )

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["dead_letters_total"] = sum(self.dead_letters.values())
        return out


def distinct_ids(payloads: Iterable[bytes]) -> dict[str, dict[str, Any]]:
    """The first record per ``id``."""
    out: dict[str, dict[str, Any]] = {}
    for payload in payloads:
        record = orjson.loads(payload)
        out.setdefault(record["id"], record)
    return out
