"""Fixtures for tests against a real Pulsar standalone; the helpers live in ``cluster.py``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster import FUNCTIONS, Pulsar, code_only_zip, delete_topics, generated_key_dir, running_cluster  # noqa: F401 (a fixture)


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


@pytest.fixture(scope="module")
def package() -> Path:
    """The code-only zip ``make deploy`` uploads (the worker's python3 has the dependencies)."""
    return code_only_zip()


@pytest.fixture
def clean(pulsar: Pulsar) -> Iterator[Pulsar]:
    """The loop's functions and topics in ``public/default`` removed before and after the test."""
    for name in FUNCTIONS:
        pulsar.delete(name)
    delete_topics(pulsar)
    yield pulsar
    for name in FUNCTIONS:
        pulsar.delete(name)
    delete_topics(pulsar)
