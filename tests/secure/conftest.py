"""Fixtures for the tests on the secured standalone (``make pulsar-up SECURE=1``; the second phase of
``make test``): where its CA, token key, tokens and client.confs are, and tokens made on demand.

``packaging/pulsar.sh`` makes everything under ``.cache/pulsar/run-secure/secure`` (or
``$STREAMLOOP_SECURE_DIR``) at the first start: ``ca.crt``, ``token-secret.key``, a token and a
``client.conf`` for the superuser ``admin`` and for the loop's role ``streamloop``. With no secured
standalone the tests skip, unless ``STREAMLOOP_REQUIRE_PULSAR=1`` (CI), which makes that a failure.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pulsar"))

from cluster import REPO, code_only_zip, generated_key_dir, pulsar_tool  # noqa: F401 (a fixture)

from streamloop.tools.connection import Connection, read_client_conf

SECRETS = Path(os.environ.get("STREAMLOOP_SECURE_DIR") or REPO / ".cache/pulsar/run-secure/secure")


@dataclass(frozen=True)
class Secured:
    """The secured standalone: its URLs, its CA, and client.confs of its roles."""

    secrets: Path = SECRETS

    def conf(self, role: str) -> Path:
        """The client.conf of ``admin`` or ``streamloop``."""
        return self.secrets / f"{role}.conf"

    def connection(self, role: str = "admin") -> Connection:
        """A :class:`Connection` as ``role``, from its client.conf."""
        return Connection(**read_client_conf(self.conf(role)), client_conf=str(self.conf(role)))

    @property
    def admin_url(self) -> str:
        return self.connection().admin_url

    @property
    def service_url(self) -> str:
        return self.connection().service_url

    def token(self, subject: str, expiry: str | None = None, secret_key: Path | None = None) -> str:
        """A token for ``subject`` made with Pulsar's ``tokens create`` (signed with the cluster's key)."""
        key = secret_key or self.secrets / "token-secret.key"
        args = ["tokens", "create", "--secret-key", f"file://{key}", "--subject", subject]
        return self._pulsar(*args, *(["--expiry-time", expiry] if expiry else [])).strip()

    def secret_key(self, path: Path) -> Path:
        """Another token key (``tokens create-secret-key``): tokens signed with it are not the cluster's."""
        self._pulsar("tokens", "create-secret-key", "--output", str(path))
        return path

    def client_conf(self, path: Path, role: str = "streamloop", **settings: str) -> Path:
        """A copy of ``role``'s client.conf with ``settings`` replaced (e.g. ``authParams``)."""
        lines = [
            line
            for line in self.conf(role).read_text().splitlines()
            if line.partition("=")[0].strip() not in settings
        ]
        path.write_text("\n".join([*lines, *(f"{k}={v}" for k, v in settings.items())]) + "\n")
        return path

    def _pulsar(self, *args: str) -> str:
        done = pulsar_tool(*args)
        assert done.returncode == 0, f"bin/pulsar {args[:2]}: {done.stdout}{done.stderr}"
        return done.stdout


@pytest.fixture(scope="session")
def secured() -> Secured:
    """The running secured standalone; skips (or fails, in CI) when there is none."""
    cluster = Secured()
    reason = None
    if not cluster.conf("admin").exists():
        reason = f"no secured standalone's client.conf in {cluster.secrets}"
    else:
        reason = cluster.connection().admin(timeout=5).unavailable(timeout=5)
    if reason:
        message = f"{reason}: start it with `make pulsar-up SECURE=1`"
        if os.environ.get("STREAMLOOP_REQUIRE_PULSAR") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return cluster


@pytest.fixture(scope="module")
def package() -> Path:
    """The code-only function package (the worker's python3 has the dependencies)."""
    return code_only_zip()
