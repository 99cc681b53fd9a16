"""The ``streamloop`` command's own dependencies (rich) are an extra of the tools, never the worker's."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from cli_run import REPO


def test_rich_is_a_dependency_of_the_tools_only():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if d.startswith("rich")]  # build_zip ships these
    for extra in ("tools", "dev"):
        assert [d for d in project["optional-dependencies"][extra] if d.startswith("rich")], extra
    assert "rich==" in (REPO / "packaging" / "constraints.txt").read_text()


def test_without_rich_the_command_says_what_to_install(tmp_path):
    (tmp_path / "rich").mkdir()
    (tmp_path / "rich" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'rich'\", name='rich')\n"
    )
    path = os.pathsep.join([str(tmp_path), str(REPO / "functions")])
    done = subprocess.run(
        [sys.executable, "-m", "streamloop", "status", "--admin-url", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": path},
    )
    assert done.returncode == 1
    assert done.stderr.strip() == "streamloop needs rich: pip install 'streamloop[tools]'"
