"""What a run left on its topics, for ``streamloop report``: the ``metrics`` records and stage latencies.

Latencies come from broker publish times, matched by event id: *event → prediction* (features and scorer)
and *label → example* (the joiner, from the later of the two halves). The same code reads the embedded
runner's topics and a real broker's, and a run saves what it read as JSON Lines in a folder
(``metrics.jsonl``, ``latency.jsonl``) that ``streamloop report --run DIR`` reads back.

>>> from streamloop.runtime.memory import MemoryClient
>>> client = MemoryClient()
>>> _ = client.create_producer(topic("metrics")).send(b'{"event": "drift", "model": "m:1"}')
>>> run = collect(client)
>>> run.metrics[0]["event"], run.latencies
('drift', {'event → prediction': [], 'label → example': []})
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulsar

from streamloop.tools.records import read_records, write_jsonl
from streamloop.worker.codec import BadMessage, decode_object
from streamloop.worker.config import DEFAULT_NAMESPACE
from streamloop.worker.messages import read_metric_record, require_id

STAGES = {"event → prediction": ("events", "predictions"), "label → example": ("labels", "examples")}


def topic(name: str, namespace: str = DEFAULT_NAMESPACE) -> str:
    """A topic of the loop in ``namespace`` (``tenant/ns`` or ``persistent://tenant/ns``).

    >>> topic("metrics", "public/cli1")
    'persistent://public/cli1/metrics'
    """
    return f"{namespace if '://' in namespace else 'persistent://' + namespace}/{name}"


@dataclass
class RunLog:
    """``metrics`` records (oldest first) and latency samples in milliseconds per stage."""

    metrics: list[dict[str, Any]] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=dict)

    def save(self, out_dir: str | Path) -> list[Path]:
        """Write ``metrics.jsonl`` and ``latency.jsonl`` into ``out_dir``; returns the paths."""
        out = Path(out_dir)
        samples = ({"stage": s, "ms": ms} for s, values in self.latencies.items() for ms in values)
        write_jsonl(out / "metrics.jsonl", self.metrics)
        write_jsonl(out / "latency.jsonl", samples)
        return [out / "metrics.jsonl", out / "latency.jsonl"]

    @classmethod
    def load(cls, run_dir: str | Path) -> RunLog:
        """Read a folder written by :meth:`save` (``latency.jsonl`` is optional)."""
        run = Path(run_dir)
        latencies: dict[str, list[float]] = {stage: [] for stage in STAGES}
        if (run / "latency.jsonl").exists():
            for sample in read_records(run / "latency.jsonl"):
                latencies.setdefault(str(sample["stage"]), []).append(float(sample["ms"]))
        return cls(read_records(run / "metrics.jsonl"), latencies)


def read_messages(client: Any, name: str, timeout_millis: int = 5000) -> list[Any]:
    """Every message on a topic, oldest first, with a Reader from the earliest message."""
    reader = client.create_reader(name, pulsar.MessageId.earliest)
    messages = []
    try:
        while reader.has_message_available():
            messages.append(reader.read_next(timeout_millis=timeout_millis))
    finally:
        reader.close()
    return messages


def _publish_times(messages: list[Any], by_payload_id: bool) -> dict[str, int]:
    """Event id → publish time (ms) of its first message (the id is the key, or the payload's ``id``)."""
    times: dict[str, int] = {}
    for message in messages:
        if by_payload_id:
            try:
                key = require_id(decode_object(message.data()))
            except BadMessage:
                continue
        else:
            key = message.partition_key()
        times.setdefault(key, message.publish_timestamp())
    return times


def collect(client: Any, namespace: str = DEFAULT_NAMESPACE) -> RunLog:
    """Read ``metrics`` and the stage latencies of the loop in ``namespace`` through ``client``."""
    metrics = []
    for message in read_messages(client, topic("metrics", namespace)):
        record = read_metric_record(message.data())
        if record is not None:
            metrics.append(record)
    latencies: dict[str, list[float]] = {}
    for stage, (source, sink) in STAGES.items():
        # Events are keyed by entity, so their id is in the payload; every other topic is keyed by event id.
        started = _publish_times(read_messages(client, topic(source, namespace)), source == "events")
        if stage == "label → example":  # an example exists once both halves are in: start at the later
            predicted = _publish_times(read_messages(client, topic("predictions", namespace)), False)
            started = {k: max(v, predicted.get(k, v)) for k, v in started.items()}
        finished = _publish_times(read_messages(client, topic(sink, namespace)), False)
        latencies[stage] = [float(finished[k] - t) for k, t in started.items() if k in finished]
    return RunLog(metrics, latencies)
