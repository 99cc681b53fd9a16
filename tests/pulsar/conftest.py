"""Fixtures for tests against a real Pulsar standalone; the helpers live in ``cluster.py``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from cluster import Pulsar, generated_key_dir, running_cluster  # noqa: F401 (a fixture)


@pytest.fixture(scope="session")
def pulsar() -> Pulsar:
    """The running cluster; skips (or fails, with ``STREAMLOOP_REQUIRE_PULSAR=1``) when there is none."""
    return running_cluster()


@pytest.fixture
def unique() -> str:
    """A short unique suffix for this test's topic and function names."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def deployed(pulsar: Pulsar) -> Iterator[list[str]]:
    """Names appended to this list are deleted after the test, pass or fail."""
    names: list[str] = []
    yield names
    for name in names:
        pulsar.delete(name)
