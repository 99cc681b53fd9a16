"""The same stream with the same fixed model gives the same predictions on the multi-node cluster (topics in
2 partitions, features and scorer at parallelism 2 over two workers) as on the standalone (one partition,
one instance each): identical ``x`` (the per-key window aggregates included) and ``proba`` by event id."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from cluster import running_cluster
from stage import Stage
from test_chaos_parallelism import score

pytestmark = [pytest.mark.pulsar, pytest.mark.cluster]


def test_cluster_and_standalone_give_identical_predictions(stage: Stage, package: Path, tmp_path, report):
    on_cluster, books = score(stage, 2)
    standalone = Stage(running_cluster(), package, tmp_path, f"same{uuid.uuid4().hex[:8]}")
    try:
        on_standalone, _ = score(standalone, 1)
    finally:
        standalone.close()
    assert set(on_cluster) == set(on_standalone)
    differ = [
        i
        for i in on_cluster
        if (on_cluster[i]["x"], on_cluster[i]["proba"]) != (on_standalone[i]["x"], on_standalone[i]["proba"])
    ]
    books.notes = {"events": len(on_cluster), "differing_ids": len(differ)}
    report.add("cluster_same_as_standalone", books.as_json())
    assert not differ, [(i, on_cluster[i], on_standalone[i]) for i in differ[:3]]
