"""No key in the repository: deploys generate one per namespace, keep it private, and reuse it; and the
order ``streamloop deploy`` creates functions in (no broker)."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from loops import replay_through

from streamloop.runtime.keys import KeyStore, default_key_dir
from streamloop.runtime.runner import Runner
from streamloop.tools import cli
from streamloop.tools.connection import Connection
from streamloop.tools.demo import drifting_stream
from streamloop.tools.deployment import main as fill_main

REPO = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO / "pulsar-config"
SECRET = "checkpoint_hmac_key"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_repository_holds_no_key() -> None:
    for path in CONFIG_DIR.glob("*.yaml"):
        secrets = yaml.safe_load(path.read_text()).get("secrets") or {}
        assert all(value == "generate" for value in secrets.values()), path


def test_a_key_is_generated_once_per_namespace_privately_and_reused(tmp_path: Path) -> None:
    keys = KeyStore(tmp_path / "keys")
    first = keys.key("public/default", SECRET)
    assert first.created and len(first.value) >= 32
    assert first.path == tmp_path / "keys" / "public" / "default" / SECRET
    assert mode(first.path) == 0o600
    assert {mode(d) for d in (first.path.parent, first.path.parent.parent, tmp_path / "keys")} == {0o700}

    again = KeyStore(tmp_path / "keys").key("public/default", SECRET)  # the next deploy
    assert again.value == first.value and not again.created
    other = keys.key("public/fraud", SECRET)
    assert other.created and other.value != first.value


def test_a_fresh_machine_gets_its_key_directory_made_private(tmp_path: Path) -> None:
    top = tmp_path / "home" / ".config" / "streamloop" / "keys"  # none of it exists yet
    stored = KeyStore(top).key("public/default", SECRET)
    assert stored.created and stored.path == top / "public" / "default" / SECRET
    assert {oct(d.stat().st_mode & 0o777) for d in (top, top / "public", top / "public" / "default")} == {
        "0o700"
    }


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = KeyStore(tmp_path).key("public/default", SECRET).path
    path.chmod(0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        KeyStore(tmp_path).key("public/default", SECRET)


@pytest.mark.parametrize("namespace", ["public/..", "../etc", "public/a/b", "public/"])
def test_a_namespace_is_never_a_path_outside_the_store(tmp_path: Path, namespace: str) -> None:
    with pytest.raises(ValueError, match="not a Pulsar name"):
        KeyStore(tmp_path).key(namespace, SECRET)


def test_the_key_store_lives_outside_the_repository(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("STREAMLOOP_KEY_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_key_dir() == tmp_path / "streamloop" / "keys"
    monkeypatch.setenv("STREAMLOOP_KEY_DIR", str(tmp_path / "mine"))
    assert default_key_dir() == tmp_path / "mine"


class RecordingAdmin:
    """The admin REST calls ``streamloop deploy`` makes, recorded (no broker); a function's instances run as
    soon as they are asked for."""

    created: ClassVar[list[dict[str, Any]]] = []
    calls: ClassVar[list[tuple[Any, ...]]] = []  # the function calls, in order

    def __init__(self, url: str) -> None:
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
        self.created.append(config)
        self.instances[config["name"]] = int(config.get("parallelism") or 1)
        self.calls.append(("update" if update else "create", config["name"], self.instances[config["name"]]))

    def function_status(self, namespace: str, name: str) -> dict[str, Any]:
        self.calls.append(("wait", name))
        return {"numInstances": self.instances[name], "numRunning": self.instances[name]}

    def scale_function(self, namespace: str, name: str, parallelism: int) -> None:
        self.instances[name] = parallelism
        self.calls.append(("scale", name, parallelism))


def deployed_key(capsys, key_dir: Path, *options: str) -> tuple[str, str]:
    RecordingAdmin.created = []
    code = cli.main(
        ["deploy", "--key-dir", str(key_dir), "--wait", "0", "--config-dir", str(CONFIG_DIR), *options]
    )
    assert code == 0
    (learner,) = [c for c in RecordingAdmin.created if c["name"] == "learner"]
    return learner["secrets"][SECRET], capsys.readouterr().out


def test_streamloop_deploy_generates_the_key_then_reuses_it(monkeypatch, capsys, tmp_path: Path) -> None:
    monkeypatch.setattr(Connection, "admin", lambda self: RecordingAdmin(self.admin_url))
    package = tmp_path / "code.zip"
    package.write_bytes(b"")
    key_file = tmp_path / "keys" / "public" / "default" / SECRET

    first, out = deployed_key(capsys, tmp_path / "keys", "--package", str(package))
    assert first == key_file.read_text().strip() and len(first) >= 32
    assert f"learner: secret {SECRET} generated ({key_file})" in out
    second, out = deployed_key(capsys, tmp_path / "keys", "--package", str(package), "--update")
    assert second == first and f"learner: secret {SECRET} reused ({key_file})" in out
    elsewhere, _ = deployed_key(
        capsys, tmp_path / "keys", "--package", str(package), "--namespace", "public/b"
    )
    assert elsewhere != first
    secrets = {c["name"]: c.get("secrets") for c in RecordingAdmin.created}
    assert secrets["features"] is None and secrets["joiner"] is None
    # The scorers verify the models with the very key the learner of their namespace signs them with.
    signing = secrets["learner"]["model_signing_key"]
    assert secrets["scorer"] == {"model_signing_key": signing} and signing not in (first, elsewhere)


def test_make_deploy_fills_the_same_key_into_a_private_copy(capsys, tmp_path: Path) -> None:
    """``packaging/deploy.sh`` runs ``python -m streamloop.tools.deployment`` on each YAML."""
    keys = KeyStore(tmp_path / "keys")
    out = tmp_path / "learner.yaml"
    assert fill_main([str(CONFIG_DIR / "learner.yaml"), str(out), "--key-dir", str(tmp_path / "keys")]) == 0
    filled = yaml.safe_load(out.read_text())
    assert filled["secrets"][SECRET] == keys.key("public/default", SECRET).value
    assert mode(out) == 0o600
    assert "generated" in capsys.readouterr().err
    original = yaml.safe_load((CONFIG_DIR / "learner.yaml").read_text())
    assert {**filled, "secrets": original["secrets"]} == original  # nothing else changed
    assert "streamloop.tools.deployment" in (REPO / "packaging" / "deploy.sh").read_text()


def test_the_runner_keeps_its_key_next_to_its_state(tmp_path: Path) -> None:
    """``streamloop run --state-dir``: the learner of the next run verifies the checkpoint of the last."""
    pairs = list(drifting_stream(300, 150))

    def run() -> int:
        runner = Runner.from_directory(
            CONFIG_DIR, state_dir=tmp_path, user_config={"learner": {"checkpoint_every": 50}}
        )
        replay_through(runner, pairs, label_delay=20)
        learned = runner.instance("learner").function.state.n_learned
        runner.stop()
        return learned

    assert run() > 0
    key_file = tmp_path / "keys" / "public" / "default" / SECRET
    assert mode(key_file) == 0o600
    assert run() > 0  # a new key would have made the learner refuse its checkpoint


def test_each_function_starts_with_one_instance_and_is_scaled_once_it_runs(monkeypatch, tmp_path: Path):
    """On a fresh namespace, two instances starting together both create the function's state table, and
    Pulsar 4.0.8's Python instance does not survive that (``deployment.creation_steps``)."""
    config_dir = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config_dir)
    for name in ("features", "scorer"):
        path = config_dir / f"{name}.yaml"
        path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), "parallelism": 2}))
    RecordingAdmin.calls = calls = []
    monkeypatch.setattr(Connection, "admin", lambda self: RecordingAdmin(self.admin_url))
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
