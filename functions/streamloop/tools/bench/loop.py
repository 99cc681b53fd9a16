"""The whole loop deployed on Pulsar: sustained events/s, and event → prediction latency at fixed rates.

Events (and their labels, ``label_delay`` events later) are sent by this process; a consumer on the
predictions topic notes when each event's prediction arrives (the prediction's key is the event id).
Each phase renames the ids and shifts the event times, so no phase sees another's ids as duplicates.
Phases: a warm-up (instances start on their first message), a light ``LIGHT_RATE`` events/s (the
latency of the path itself, without queueing), ``rate`` events/s, as fast as possible, then 80% of the
sustained rate. The sustained rate counts the whole loop: from the first event sent until every function
has processed everything the phase caused (examples learned), not only the predictions' arrival rate
(also reported), since the joiner and learner can lag behind. Before each timed phase every function
drains what the previous phase left (labels, examples), bounded by ``DRAIN_SECONDS``.
Over the saturated phase and its drain, the CPU time of the broker, of each function's instances and of
this process, per event: where a 2-core machine's capacity goes.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import pulsar

from streamloop.tools.bench.pulsar_io import Produced, TopicMessages, producer, send
from streamloop.tools.bench.repeat import renamed

WARMUP_EVENTS = 300
LIGHT_RATE = 100
LIGHT_EVENTS = 2000
PHASE_EVENTS = 5000
WAIT_SECONDS = 60.0
DRAIN_SECONDS = 180.0


def run_loop_on_pulsar(
    client: Any,
    topic_of: Callable[[str], str],
    streams: TopicMessages,
    configs: dict[str, dict[str, Any]],
    *,
    rate: int,
    label_delay: int,
    rss: Callable[[], dict[str, list[float]]],
    drain: Callable[[float], bool],
    cpu: Callable[[], dict[str, float]],
) -> dict[str, Any]:
    """Run the phases; ``{"events_per_s", "latency_ms": {rate: {p50, p99, n}}, "rss_mb"}``."""
    arrived: dict[str, float] = {}

    def on_prediction(consumer: Any, message: Any) -> None:
        arrived.setdefault(message.partition_key(), time.monotonic())
        consumer.acknowledge(message)

    consumer = client.subscribe(
        topic_of("predictions"),
        "bench-latency",
        initial_position=pulsar.InitialPosition.Earliest,
        message_listener=on_prediction,
    )
    paced = {name: producer(client, topic_of(name), batching=False) for name in ("events", "labels")}
    batched = {name: producer(client, topic_of(name)) for name in ("events", "labels")}
    labels = {orjson.loads(message[1])["id"]: message for message in streams["labels"]}
    phase = Phase(streams["events"], labels, label_delay, arrived)
    try:
        phase.run("warmup", paced, WARMUP_EVENTS, rate=100)
        if not phase.wait(timeout=180.0):
            raise TimeoutError(f"warm-up: {phase.received()} of {WARMUP_EVENTS} predictions after 180s")
        latency: dict[str, Any] = {}
        drain(DRAIN_SECONDS)
        phase.run("light", paced, LIGHT_EVENTS, rate=LIGHT_RATE)
        phase.wait(WAIT_SECONDS)
        latency[str(LIGHT_RATE)] = phase.latency()
        drain(DRAIN_SECONDS)
        phase.run("fixed", paced, PHASE_EVENTS, rate=rate)
        phase.wait(WAIT_SECONDS)
        latency[str(rate)] = phase.latency()
        drain(DRAIN_SECONDS)
        before, started = cpu(), time.monotonic()
        phase.run("saturated", batched, PHASE_EVENTS, rate=None)
        phase.wait(WAIT_SECONDS * 2)
        predictions_per_s = phase.arrival_rate()
        drained = drain(DRAIN_SECONDS)
        sustained = PHASE_EVENTS / (time.monotonic() - started) if drained else 0.0
        near = max(int(sustained * 0.8), 1)
        after = cpu()
        cpu_us = {k: round((after[k] - before.get(k, 0.0)) / PHASE_EVENTS * 1e6, 1) for k in after}
        phase.run("near", paced, min(PHASE_EVENTS, near * 10), rate=near)
        phase.wait(WAIT_SECONDS)
        latency[str(near)] = phase.latency()
        memory = {name: {"rss_mb": max(values) if values else None} for name, values in rss().items()}
    finally:
        consumer.close()
        for out in (*paced.values(), *batched.values()):
            out.close()
    return {
        "events_per_s": round(sustained, 1),
        "predictions_per_s": round(predictions_per_s, 1),
        "latency_ms": latency,
        "near_saturation_rate": near,
        "cpu_us_per_event": cpu_us,
        "functions": sorted(configs),
        "rss_mb": memory,
    }


class Phase:
    """Sends one phase's events and labels, and reads its predictions' latencies."""

    def __init__(
        self,
        events: list[Produced],
        labels: dict[str, Produced],
        label_delay: int,
        arrived: dict[str, float],
    ) -> None:
        self.events = events
        self.labels = labels
        self.label_delay = label_delay
        self.arrived = arrived
        self.sent: dict[str, float] = {}
        self.shift = 0.0

    def run(self, name: str, outs: dict[str, Any], n: int, rate: float | None) -> None:
        """Send ``n`` events (ids prefixed ``name``) at ``rate``/s (``None``: as fast as possible)."""
        events = [renamed(e, name, self.shift) for e in self.events[:n]]
        ids = [orjson.loads(p)["id"] for _, p, _ in events]
        labels = [renamed(self.labels[i.split("-", 1)[1]], name, self.shift) for i in ids]
        self.shift += 10 * 86_400.0  # the next phase's events come after this one's windows
        self.sent = {}
        start = time.monotonic()
        for i, (event, event_id) in enumerate(zip(events, ids, strict=True)):
            if rate is not None:
                pause = start + i / rate - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
            self.sent[event_id] = time.monotonic()
            send(outs["events"], event)
            if i >= self.label_delay:
                send(outs["labels"], labels[i - self.label_delay])
        for label in labels[max(len(labels) - self.label_delay, 0) :]:
            send(outs["labels"], label)
        for out in outs.values():
            out.flush()

    def received(self) -> int:
        return sum(1 for event_id in self.sent if event_id in self.arrived)

    def wait(self, timeout: float) -> bool:
        """Until every prediction of the phase arrived (``False`` after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while self.received() < len(self.sent):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def latency(self) -> dict[str, float]:
        """p50/p99 of event → prediction in ms, over the phase's predictions that arrived."""
        values = [(self.arrived[i] - t) * 1000 for i, t in self.sent.items() if i in self.arrived]
        return {**percentiles(values), "missing": len(self.sent) - len(values)}

    def arrival_rate(self) -> float:
        """Predictions/s between the 10th and 90th percentile of the phase's arrivals."""
        times = sorted(self.arrived[i] for i in self.sent if i in self.arrived)
        if len(times) < 10:
            return 0.0
        low, high = times[len(times) // 10], times[len(times) * 9 // 10]
        return (len(times) * 8 // 10) / (high - low) if high > low else 0.0


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """p50 and p99 of ``values`` (milliseconds), rounded."""
    ordered = sorted(values)
    if not ordered:
        return {"p50": float("nan"), "p99": float("nan"), "n": 0}
    pick: Callable[[float], float] = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50": round(statistics.median(ordered), 2), "p99": round(pick(0.99), 2), "n": len(ordered)}
