"""Fixtures for the chaos scenarios: the real standalone, a namespace per scenario, and the report.

The cluster helpers live in ``tests/pulsar/cluster.py``; that directory is put on ``sys.path`` here.
With ``STREAMLOOP_CHAOS_REPORT=<path>`` (``make chaos``) every scenario's books are written there as JSON.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pulsar"))

from cluster import Pulsar, code_only_zip, generated_key_dir, running_cluster  # noqa: F401 (a fixture)
from report import Report
from stage import Stage


@pytest.fixture(scope="session")
def pulsar() -> Pulsar:
    """The running cluster; skips (or fails, with ``STREAMLOOP_REQUIRE_PULSAR=1``) when there is none."""
    return running_cluster()


@pytest.fixture(scope="session")
def package() -> Path:
    """The code-only zip ``make deploy`` uploads (the worker's python3 has the dependencies)."""
    return code_only_zip()


@pytest.fixture
def stage(pulsar: Pulsar, package: Path, tmp_path: Path) -> Iterator[Stage]:
    """A fresh namespace ``public/chaos<id>``; its functions, topics and namespace go afterwards."""
    stage = Stage(pulsar, package, tmp_path, f"chaos{uuid.uuid4().hex[:8]}")
    yield stage
    stage.close()


@pytest.fixture(scope="session")
def report() -> Iterator[Report]:
    yield from Report.written_to("STREAMLOOP_CHAOS_REPORT")
