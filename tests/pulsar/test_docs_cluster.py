"""The cluster examples of README.md and docs/quickstart.md (```bash blocks with ``streamloop deploy``), run
line by line against the standalone, in a namespace of their own; ``make pulsar-up``/``pulsar-down`` are
left out (the standalone is already up, and others use it)."""

from __future__ import annotations

import re
import shlex
import uuid
from pathlib import Path

import pytest
from cli_run import CONFIG_DIR, REPO, ok, streamloop
from cluster import ADMIN_URL, Pulsar
from namespaces import delete_namespace

pytestmark = pytest.mark.pulsar
PAGES = [REPO / "README.md", REPO / "docs" / "quickstart.md"]
FENCE = re.compile(r"^```bash\n(.*?)^```", re.M | re.S)
CLUSTER = ("deploy", "undeploy", "status")


def cluster_commands(page: Path) -> list[list[str]]:
    """The ``streamloop`` commands of the page's bash block that deploys, as argument lists."""
    block = next(b for b in FENCE.findall(page.read_text()) if "streamloop deploy" in b)
    text = re.sub(r"\\\n\s*", " ", block)  # join continued lines
    commands = []
    for line in text.splitlines():
        for part in line.split("#", 1)[0].split("&&"):
            words = shlex.split(part)
            if words and words[0] == "streamloop":
                commands.append(words[1:])
    return commands


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_the_cluster_example_runs(page: Path, pulsar: Pulsar, tmp_path: Path):
    commands = cluster_commands(page)
    assert [c[0] for c in commands][:1] == ["deploy"] and ["undeploy", "--topics"] in commands
    namespace = f"public/doc{uuid.uuid4().hex[:8]}"
    (tmp_path / "pulsar-config").symlink_to(CONFIG_DIR)
    for folder in ("data", "history"):  # what the page's embedded steps wrote, smaller
        ok(streamloop("dataset", "--events", 400, "--out", folder, cwd=tmp_path))
    try:
        for args in commands:
            extra = ["--namespace", namespace, *(["--admin-url", ADMIN_URL] if args[0] in CLUSTER else [])]
            result = streamloop(*args, *extra, cwd=tmp_path, timeout=400)
            assert result.returncode == 0, f"streamloop {args}\n{result.stdout}{result.stderr}"
    finally:
        streamloop("undeploy", "--namespace", namespace, "--admin-url", ADMIN_URL, "--topics", cwd=tmp_path)
        delete_namespace(namespace)
    assert (tmp_path / "out/cluster-report/report.html").exists()
