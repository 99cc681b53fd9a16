"""Fixtures for the tests on the multi-node cluster (``packaging/cluster.sh up``, marker ``cluster``).

The cluster is two brokers, two bookies and two function workers apart from the brokers (see
``packaging/cluster.sh``); its URLs are in :mod:`topology`. The chaos helpers (``tests/chaos``) and the
cluster helpers (``tests/pulsar``) are reused as they are: a :class:`Stage` only needs a ``Pulsar``.
With ``STREAMLOOP_CLUSTER_REPORT=<path>`` (``make test`` sets out/cluster.json) every scenario's books
are written there as JSON.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "pulsar"), str(HERE.parent / "chaos")]

from cluster import Pulsar, code_only_zip, generated_key_dir, skip_unless_up  # noqa: E402, F401 (a fixture)
from report import Report  # noqa: E402
from stage import Stage  # noqa: E402
from topology import CLUSTER, unavailable  # noqa: E402


@pytest.fixture(scope="session")
def pulsar() -> Pulsar:
    """The running multi-node cluster; skips (fails with ``STREAMLOOP_REQUIRE_PULSAR=1``) without one."""
    skip_unless_up(unavailable(), "start it with `make cluster-up`")
    return CLUSTER


@pytest.fixture(scope="session")
def package() -> Path:
    return code_only_zip()


@pytest.fixture
def stage(pulsar: Pulsar, package: Path, tmp_path: Path) -> Iterator[Stage]:
    """A fresh namespace with the loop's topics in 2 partitions; everything in it goes afterwards."""
    stage = Stage(pulsar, package, tmp_path, f"cluster{uuid.uuid4().hex[:8]}", partitions=2)
    yield stage
    stage.close()


@pytest.fixture(scope="session")
def report() -> Iterator[Report]:
    yield from Report.written_to("STREAMLOOP_CLUSTER_REPORT")
