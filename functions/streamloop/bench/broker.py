"""The real-Pulsar measurements of issue 5: not implemented yet, each reported as skipped.

Each function here takes the bench options and returns the section's result, or ``None`` when it cannot
run; :mod:`streamloop.bench.__main__` records ``None`` as ``{"status": "skipped", "reason": SKIPPED}``.
A measurement that lands later fills its section with ``{"status": "ok", ...}`` in the shape documented
on its function, and the ratios in :func:`streamloop.bench.report.ratios` pick it up.
"""

from __future__ import annotations

from typing import Any

SKIPPED = "needs a broker (make pulsar-up)"


def identity_function(options: Any) -> dict[str, Any] | None:
    """An identity Python function deployed on the worker: ``{"events_per_s"}`` (the runtime's ceiling)."""
    return None


def bare_client(options: Any) -> dict[str, Any] | None:
    """A bare pulsar-client consume → produce loop: ``{"events_per_s"}``."""
    return None


def deployed_functions(options: Any) -> dict[str, Any] | None:
    """Each function deployed alone, saturated: ``{"<name>": {"events_per_s", "ratio_to_identity"}}``."""
    return None


def loop_latency(options: Any) -> dict[str, Any] | None:
    """The whole loop on Pulsar, sustained and event → prediction latency at fixed rates.

    ``{"events_per_s", "latency_ms": {"<rate>": {"p50", "p99"}}}``
    """
    return None


def scaling(options: Any) -> dict[str, Any] | None:
    """Features and scorer at parallelism 1 and 2: ``{"<name>": {"1": events_per_s, "2": events_per_s}}``."""
    return None


def memory(options: Any) -> dict[str, Any] | None:
    """Resident memory per function instance: ``{"<name>": {"rss_mb"}}``."""
    return None


def startup(options: Any) -> dict[str, Any] | None:
    """``create`` to first message processed: ``{"<name>": {"seconds"}}``."""
    return None


SECTIONS = {
    "identity_function": identity_function,
    "bare_client": bare_client,
    "deployed_functions": deployed_functions,
    "loop_latency": loop_latency,
    "scaling": scaling,
    "memory": memory,
    "startup": startup,
}
