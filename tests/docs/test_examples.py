"""Every example in README.md and docs/ runs: ```python blocks as one script per page, and each ``$`` line
of a ```console block as a shell command whose output must contain the lines shown (``…`` = anything).

The examples run in a scratch folder holding a link to ``pulsar-config/``, on the embedded runner, with
``streamloop`` meaning this checkout's code. A block that talks to a cluster (``pulsar-admin``,
``--service-url``, ``--admin-url``, ``streamloop deploy``/``undeploy``/``status``) is left to the
real-broker tests, as are ```bash blocks: ``tests/pulsar/test_docs_cluster.py`` runs the ones that deploy.
```text blocks are output.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.M | re.S)


def blocks(page: Path, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(page.read_text()) if lang == language]


def commands(block: str) -> list[tuple[str, list[str]]]:
    """``($ command, expected output lines)`` pairs of a console block (``\\`` continues a command)."""
    pairs: list[tuple[str, list[str]]] = []
    lines = block.splitlines()
    while lines:
        line = lines.pop(0)
        if line.startswith("$ "):
            command = line[2:]
            while command.endswith("\\"):
                command = command[:-1] + lines.pop(0).strip()
            pairs.append((command, []))
        elif pairs and line.strip():
            pairs[-1][1].append(line)
    return pairs


CLUSTER = re.compile(r"pulsar-admin|--service-url|--admin-url|streamloop (deploy|undeploy|status)\b")


def runnable(block: str) -> bool:
    """Whether a console block runs without a cluster.

    >>> runnable("$ streamloop validate"), runnable("$ streamloop status --namespace public/x")
    (True, False)
    """
    return not any(CLUSTER.search(command) for command, _ in commands(block))


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "functions"), os.environ.get("PYTHONPATH", "")]),
    }


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    (tmp_path / "pulsar-config").symlink_to(REPO / "pulsar-config")
    return tmp_path


def _matches(expected: str, output: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in expected.strip().split("…"))
    return re.search(pattern, output) is not None


@pytest.mark.parametrize(
    "page", [p for p in PAGES if any(map(runnable, blocks(p, "console")))], ids=lambda p: p.name
)
def test_console_examples(page: Path, scratch: Path):
    streamloop = f"{sys.executable} -m streamloop"
    for block in filter(runnable, blocks(page, "console")):
        for command, expected in commands(block):
            shell = re.sub(r"(^|&& |\| )streamloop ", rf"\1{streamloop} ", command)
            env = {**_env(), "STREAMLOOP_KEY_DIR": str(scratch / "keys")}  # `train` signs: not in ~
            done = subprocess.run(
                shell, shell=True, cwd=scratch, env=env, capture_output=True, text=True, timeout=600
            )
            assert done.returncode == 0, f"{page.name}: $ {command}\n{done.stdout}\n{done.stderr}"
            for line in expected:
                assert _matches(line, done.stdout), (
                    f"{page.name}: $ {command}\nexpected: {line}\ngot:\n{done.stdout}"
                )


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p, "python")], ids=lambda p: p.name)
def test_python_examples(page: Path, scratch: Path):
    script = "\n".join(blocks(page, "python"))
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=scratch, env=_env(), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{page.name}:\n{done.stdout}\n{done.stderr}"


def test_the_readme_links_every_page():
    readme = (REPO / "README.md").read_text()
    for page in sorted((REPO / "docs").glob("*.md")):
        assert f"docs/{page.name}" in readme, page.name
