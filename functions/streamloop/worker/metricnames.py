"""Every ``record_metric`` name the functions use, for docs, dashboards and tests.

Pulsar 4.0's Python instance exports each name as a Prometheus summary,
``pulsar_function_user_metric_count{metric="<name>"}`` and ``pulsar_function_user_metric_sum{...}``, with
the labels ``tenant``, ``namespace`` (``tenant/namespace``), ``name`` (the function), ``instance_id``,
``cluster`` and ``fqfn``; the functions worker appends every instance's metrics to its own ``/metrics``
(a standalone: ``http://127.0.0.1:8080/metrics/``).

>>> USER_METRICS["joined"].functions
('joiner',)
>>> sorted(n for n, m in USER_METRICS.items() if "learner" in m.functions)[:3]
['challenger_accuracy', 'checkpoint_bytes', 'checkpoint_failures']
"""

from __future__ import annotations

from typing import NamedTuple


class UserMetric(NamedTuple):
    functions: tuple[str, ...]
    meaning: str


FUSED = "features-scorer"  # streamloop.worker.fused: records what both functions record
ALL = ("features", "scorer", FUSED, "joiner", "learner")

USER_METRICS: dict[str, UserMetric] = {
    "dead_letters": UserMetric(ALL, "1 per message sent to the dead-letter topic"),
    "processing_failures": UserMetric(
        ALL, "1 per input left unacked for redelivery: a state store, producer or function failure"
    ),
    "publish_failures": UserMetric(ALL, "1 per publish the broker did not confirm (its inputs stay unacked)"),
    "state_keys_saved": UserMetric(("features", FUSED), "keys whose window state one flush wrote"),
    "state_save_failures": UserMetric(("features", FUSED), "1 per failed state flush (inputs stay unacked)"),
    "window_events_dropped": UserMetric(
        ("features", FUSED), "events a hot key dropped at `window_max_events` (its oldest tenth)"
    ),
    "models_loaded": UserMetric(("scorer", FUSED), "1 per model version swapped in"),
    "models_rejected": UserMetric(
        ("scorer", FUSED), "1 per model refused: unsigned, wrongly signed or invalid (reason on metrics)"
    ),
    "joined": UserMetric(("joiner",), "1 per prediction paired with its label"),
    "duplicates": UserMetric(("joiner", "learner"), "1 per redelivered or repeated id skipped"),
    "expired_predictions": UserMetric(("joiner",), "predictions whose label never came, per expiry batch"),
    "expired_labels": UserMetric(("joiner",), "labels whose prediction never came, per expiry batch"),
    "examples_learned": UserMetric(("learner",), "1 per example learned"),
    "promotions": UserMetric(("learner",), "1 per model published to models"),
    "drifts": UserMetric(("learner",), "1 per drift the detector signalled"),
    "served_accuracy": UserMetric(
        ("learner",), "prequential metric of the serving model per window (`served_<metric>`)"
    ),
    "challenger_accuracy": UserMetric(
        ("learner",), "the challenger's metric per window (`challenger_<metric>`)"
    ),
    "export_seconds": UserMetric(("learner",), "time to export the model to ONNX, per promotion"),
    "checkpoint_bytes": UserMetric(("learner",), "size of each stored checkpoint"),
    "checkpoint_seconds": UserMetric(("learner",), "time to store each checkpoint"),
    "checkpoint_failures": UserMetric(("learner",), "1 per failed checkpoint store (examples stay unacked)"),
}
"""Name → functions and meaning. The window metric names follow the learner's ``metric`` (default
``metrics.Accuracy``: ``served_accuracy``; ``metrics.MAE``: ``served_mae``)."""

# The metrics Pulsar's Python instance itself exports per function instance (function_stats.py).
INSTANCE_METRICS = frozenset(
    f"pulsar_function_{name}"
    for name in (
        "received_total",
        "processed_successfully_total",
        "user_exceptions_total",
        "system_exceptions_total",
        "process_latency_ms_count",
        "process_latency_ms_sum",
        "last_invocation",
        "received_1min_total",
        "processed_successfully_1min_total",
        "user_exceptions_1min_total",
        "system_exceptions_1min_total",
        "process_latency_ms_1min_count",
        "process_latency_ms_1min_sum",
        "user_metric_count",
        "user_metric_sum",
    )
)
