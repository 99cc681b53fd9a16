"""``streamloop deploy`` creates each function with one instance and scales it once that one runs (no broker).

On a fresh namespace two instances starting together both create the function's state table, and Pulsar
4.0.8's Python instance does not survive that (``deployment.creation_steps``); the cluster tests deploy
functions at parallelism 2 through the same steps.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from streamloop.tools import cli
from streamloop.tools.connection import Connection

CONFIG_DIR = Path(__file__).resolve().parents[1] / "pulsar-config"


class OrderedAdmin:
    """Records the order of the function calls; every function's instances run as soon as it is asked."""

    def __init__(self, calls: list[tuple[Any, ...]]) -> None:
        self.calls = calls
        self.instances: dict[str, int] = {}

    def ensure_namespace(self, namespace: str) -> None:
        pass

    def create_topic(self, namespace: str, name: str, partitions: int = 0) -> int:
        return partitions

    def set_compaction(self, namespace: str, name: str) -> None:
        pass

    def set_retention(self, *args: Any) -> None:
        pass

    def set_offload_threshold(self, *args: Any) -> None:
        pass

    def create_function(self, config: dict[str, Any], package: Path, update: bool = False) -> None:
        self.instances[config["name"]] = config["parallelism"]
        self.calls.append(("update" if update else "create", config["name"], config["parallelism"]))

    def function_status(self, namespace: str, name: str) -> dict[str, Any]:
        self.calls.append(("wait", name))
        return {"numInstances": self.instances[name], "numRunning": self.instances[name]}

    def scale_function(self, namespace: str, name: str, parallelism: int) -> None:
        self.instances[name] = parallelism
        self.calls.append(("scale", name, parallelism))


def test_each_function_starts_with_one_instance_and_is_scaled_once_it_runs(monkeypatch, tmp_path: Path):
    config_dir = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config_dir)
    for name in ("features", "scorer"):
        path = config_dir / f"{name}.yaml"
        path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), "parallelism": 2}))
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(Connection, "admin", lambda self: OrderedAdmin(calls))
    package = tmp_path / "code.zip"
    package.write_bytes(b"")
    common = ["--key-dir", str(tmp_path / "keys"), "--config-dir", str(config_dir), "--package", str(package)]
    assert cli.main(["deploy", *common, "--wait", "0"]) == 0
    assert calls == [
        ("create", "features", 1),
        ("wait", "features"),
        ("scale", "features", 2),
        ("create", "joiner", 1),  # its table is its own and the state namespace exists: no wait
        ("create", "learner", 1),
        ("create", "scorer", 1),
        ("wait", "scorer"),
        ("scale", "scorer", 2),
    ]
    calls.clear()
    assert cli.main(["deploy", *common, "--wait", "0", "--update"]) == 0  # the tables exist: as they are
    assert calls == [
        ("update", name, p) for name, p in (("features", 2), ("joiner", 1), ("learner", 1), ("scorer", 2))
    ]
