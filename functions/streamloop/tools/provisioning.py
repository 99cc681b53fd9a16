"""The loop's namespace and topics, made ready for the functions: what ``streamloop provision`` does (and
``streamloop deploy`` first, unless ``--no-provision``).

- the namespace, and the loop's topics (:data:`TOPICS`; existing ones are kept);
- with ``partitions`` (``--partitions N``), the topics of :data:`PARTITIONABLE` partitioned: the stream
  topics whose rate grows with the traffic, spread over the brokers. The others stay one topic each
  (:data:`UNPARTITIONED` says why): ``models`` is compacted and read with a Reader for the latest model
  per name, ``metrics`` and ``dead-letters`` are low-rate and read back in order (``streamloop report``,
  an operator). An existing topic is kept if its partitioning is the one asked for, else it is an error;
- ``models`` compacted (:data:`COMPACTED`): the scorers read the latest model per name;
- the **history** (:data:`HISTORY`: ``events``, ``labels``, ``examples``) kept after it is acked, by
  default forever: it is what ``streamloop rebuild`` recomputes features from and what a new learner
  backfills from (docs/history.md). ``metrics`` is kept a week, for ``streamloop report``;
- an offload threshold on the namespace: past it, a topic's closed ledgers move to the cluster's tiered
  storage and are read back from there transparently. It is a namespace policy because a topic-level offload
  policy must repeat the broker's whole offloader configuration (driver, URI, profile), and in 4.0.8 a
  namespace *offload policy* without a driver (``set-offload-deletion-lag``) disables offloading for the
  namespace; the threshold is a separate namespace field. Topics that are not retained (``features``,
  ``predictions``) are deleted once consumed, so in practice only the retained ones are offloaded;
- optionally, ``produce,consume,functions`` on the namespace for the role that deploys and runs the loop,
  so that role needs no more (docs/security.md).

On a secured cluster these are an administrator's calls (namespace and topic policies need a tenant admin);
the loop's own role then deploys with ``streamloop deploy --no-provision``.

>>> HISTORY
('events', 'labels', 'examples')
>>> [name for name in TOPICS if name not in PARTITIONABLE] == list(UNPARTITIONED)
True
>>> policies = TopicPolicies()
>>> policies.retention("events"), policies.retention("metrics"), policies.retention("models")
((-1, -1), (10080, -1), None)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TOPICS = ["events", "labels", "features", "predictions", "examples", "models", "metrics", "dead-letters"]
HISTORY = ("events", "labels", "examples")
"""The event log: retained (forever by default) and offloaded; every feature and model is rebuilt from it."""
REPORTED = ("metrics",)
"""Retained for a while: what ``streamloop report`` reads."""
LOOP_ACTIONS = ("produce", "consume", "functions")
"""The namespace permissions the loop's role needs: publish, subscribe, deploy and run functions."""
PARTITIONABLE = ("events", "labels", "features", "predictions", "examples")
"""The stream topics, partitioned with ``--partitions N``."""
UNPARTITIONED = {
    "models": "compacted, read with a Reader for the latest model per name",
    "metrics": "low rate, read back in order by `streamloop report`",
    "dead-letters": "low rate, read back in order by an operator",
}
"""The topics that stay one non-partitioned topic, and why."""
COMPACTED = ("models",)
"""Compacted: the scorers read the latest model per name."""


@dataclass(frozen=True)
class TopicPolicies:
    """Retention and offload settings of the loop's topics (-1: unlimited)."""

    history_retention_minutes: int = -1
    history_retention_mb: int = -1
    metrics_retention_minutes: int = 7 * 24 * 60
    offload_threshold_mb: int = 1024
    """Bytes a topic keeps in BookKeeper before its closed ledgers are offloaded (-1: never offload)."""

    def retention(self, name: str) -> tuple[int, int] | None:
        """``(minutes, megabytes)`` to keep ``name``'s acked messages, or ``None`` (deleted once acked)."""
        if name in HISTORY:
            return self.history_retention_minutes, self.history_retention_mb
        if name in REPORTED:
            return self.metrics_retention_minutes, -1
        return None


def provision(
    admin: Any, namespace: str, policies: TopicPolicies, grant: str | None = None, partitions: int = 0
) -> list[str]:
    """Make ``namespace`` ready for the loop (:data:`PARTITIONABLE` with ``partitions``, 0: none); one
    line per thing done, for the user."""
    if partitions < 0:
        raise ValueError(f"--partitions: expected 0 (not partitioned) or more, got {partitions}")
    admin.ensure_namespace(namespace)
    for name in TOPICS:
        asked = partitions if name in PARTITIONABLE else 0
        has = admin.create_topic(namespace, name, asked)
        if has != asked:
            raise ValueError(f"topic persistent://{namespace}/{name}: {_mismatch(name, has, asked)}")
    for name in COMPACTED:
        admin.set_compaction(namespace, name)
    lines = [
        f"namespace {namespace}: topics {', '.join(PARTITIONABLE)} ({_partitioned(partitions)}), "
        f"{', '.join(UNPARTITIONED)} (not partitioned; models compacted)"
    ]
    for name in TOPICS:
        kept = policies.retention(name)
        if kept is not None:
            admin.set_retention(namespace, name, *kept)
            lines.append(f"  {name}: acked messages kept {_limit(kept[0], 'min')}, {_limit(kept[1], 'MB')}")
    threshold = policies.offload_threshold_mb
    admin.set_offload_threshold(namespace, -1 if threshold < 0 else threshold * 1024 * 1024)
    lines.append(
        "  offload: never"
        if threshold < 0
        else f"  offload: a topic's closed ledgers past {threshold} MB go to tiered storage"
    )
    if grant:
        admin.grant_permission(namespace, grant, LOOP_ACTIONS)
        lines.append(f"  role {grant}: {', '.join(LOOP_ACTIONS)} on {namespace}")
    return lines


def check_partitions(admin: Any, namespace: str) -> tuple[list[str], list[str]]:
    """Each loop topic's partitions in ``namespace`` (a line each), and the problems: a topic of
    :data:`UNPARTITIONED` that is partitioned."""
    lines, problems = [], []
    for name in TOPICS:
        topic = f"persistent://{namespace}/{name}"
        has = admin.partitions(topic)
        lines.append(f"{topic}: {_partitioned(has)}")
        if name in UNPARTITIONED and has > 0:
            problems.append(f"{topic}: {_mismatch(name, has, 0)}")
    return lines, problems


def _mismatch(name: str, has: int, asked: int) -> str:
    """Why an existing topic of ``has`` partitions is not the one asked for, and what to do."""
    undeploy = "delete the loop's topics (`streamloop undeploy --topics`, their messages are lost)"
    if name in UNPARTITIONED:
        return f"has {_partitioned(has)}, but it must not be partitioned ({UNPARTITIONED[name]}): {undeploy}"
    keep = f"keep it with --partitions {has}"
    return f"has {_partitioned(has)} (asked: {_partitioned(asked)}): {keep}, or {undeploy}"


def _partitioned(partitions: int) -> str:
    """
    >>> _partitioned(0), _partitioned(4)
    ('not partitioned', '4 partitions')
    """
    return "not partitioned" if partitions <= 0 else f"{partitions} partition{'s' if partitions > 1 else ''}"


def _limit(value: int, unit: str) -> str:
    return "without limit" if value < 0 else f"{value} {unit}"
