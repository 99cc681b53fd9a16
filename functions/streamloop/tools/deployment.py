"""The four functions on a cluster: FunctionConfig YAMLs moved to a namespace, a code package, a status table.

``streamloop deploy`` has the effect of ``packaging/deploy.sh deploy``: the loop's topics (``models``
compacted), then one ``functions create`` per ``pulsar-config/*.yaml``, unchanged but for its
``generate`` secrets, which get the namespace's key (:mod:`streamloop.runtime.keys`: generated on the
first deploy, reused after). ``--namespace`` moves a whole loop elsewhere: the files' tenant, namespace
and every ``persistent://<their namespace>/`` topic. ``python -m streamloop.tools.deployment IN OUT``
writes ``IN`` with its secrets filled to ``OUT`` (mode 0600), for ``packaging/deploy.sh``.

>>> config = {"tenant": "public", "namespace": "default", "name": "scorer",
...           "inputs": ["persistent://public/default/features"],
...           "userConfig": {"models_topic": "persistent://public/default/models"}}
>>> moved = in_namespace(config, "public/cli1")
>>> moved["namespace"], moved["inputs"], moved["userConfig"]["models_topic"], moved["runtime"]
('cli1', ['persistent://public/cli1/features'], 'persistent://public/cli1/models', 'PYTHON')
>>> from streamloop.tools.terminal import plain
>>> print(plain(status_table([("scorer", {"instances": [{"instanceId": 0, "status": {
...     "running": True, "numReceived": 7, "numSuccessfullyProcessed": 7, "numUserExceptions": 0,
...     "numSystemExceptions": 0, "numRestarts": 0, "averageLatency": 1.25, "workerId": "c-w1"}}]})])))
FUNCTION  INSTANCE  WORKER  RUNNING  RECEIVED  PROCESSED  EXCEPTIONS  RESTARTS  LATENCY_MS  LAST_ERROR
scorer    0         c-w1    yes      7         7          0           0         1.25
"""

from __future__ import annotations

import argparse
import os
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from rich.table import Table
from rich.text import Text

import streamloop
from streamloop.runtime.keys import KeyStore, StoredKey, default_key_dir, generated
from streamloop.tools.admin import Admin, AdminError

FUNCTIONS = ("features", "scorer", "joiner", "learner")


def _replace(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list):
        return [_replace(v, old, new) for v in value]
    if isinstance(value, dict):
        return {_replace(k, old, new): _replace(v, old, new) for k, v in value.items()}
    return value


def in_namespace(config: dict[str, Any], namespace: str) -> dict[str, Any]:
    """A FunctionConfig for the REST API, moved to ``tenant/namespace`` (topics included)."""
    tenant, _, name = namespace.partition("/")
    old = f"persistent://{config.get('tenant', 'public')}/{config.get('namespace', 'default')}/"
    moved = _replace(config, old, f"persistent://{tenant}/{name}/")
    moved.update(tenant=tenant, namespace=name, runtime="PYTHON")
    return moved


def creation_steps(configs: Sequence[dict[str, Any]]) -> list[tuple[dict[str, Any], int | None]]:
    """How to create ``configs`` so that no two instances create a state table at once: each function with
    one instance, and the parallelism to scale it to once that instance runs (``None``: no need to wait).

    Pulsar 4.0.8's Python instance creates the namespace's state namespace and its function's table when
    it starts, and does not survive a concurrent creation: of two instances starting together on a fresh
    namespace one crashed (``NamespaceExistsError``, ``StreamExistsError``), its process lingered holding
    its metrics port, and every restart of it failed ("Address already in use") for good. So the first
    function (it makes the state namespace) and every one with more instances are waited for.

    >>> steps = creation_steps([{"name": "a"}, {"name": "b", "parallelism": 2}, {"name": "c"}])
    >>> [(config["name"], config["parallelism"], scale_to) for config, scale_to in steps]
    [('a', 1, 1), ('b', 1, 2), ('c', 1, None)]
    """
    steps: list[tuple[dict[str, Any], int | None]] = []
    for index, config in enumerate(configs):
        parallelism = int(config.get("parallelism") or 1)
        waited = index == 0 or parallelism > 1
        steps.append(({**config, "parallelism": 1}, parallelism if waited else None))
    return steps


def with_keys(config: dict[str, Any], keys: KeyStore) -> tuple[dict[str, Any], list[tuple[str, StoredKey]]]:
    """``config`` with its ``generate`` secrets set to its namespace's keys, and the keys it used."""
    secrets = config.get("secrets") or {}
    names = generated(secrets)
    if not names:
        return config, []
    namespace = f"{config.get('tenant', 'public')}/{config.get('namespace', 'default')}"
    used = [(name, keys.key(namespace, name)) for name in names]
    return {**config, "secrets": {**secrets, **{name: key.value for name, key in used}}}, used


def describe_keys(function: str, used: Sequence[tuple[str, StoredKey]]) -> list[str]:
    """One line per key a deploy used: generated or reused, and its file."""
    return [
        f"{function}: secret {name} {'generated' if key.created else 'reused'} ({key.path})"
        for name, key in used
    ]


def write_private(path: str | Path, text: str) -> None:
    """Write ``text`` to a new file readable by its owner only (it may hold a secret)."""
    path = Path(path)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def code_package(out_dir: str | Path) -> Path:
    """``<out_dir>/streamloop-nodeps.zip``: this installed package's code only, in Pulsar's zip layout
    (``streamloop-nodeps/src/streamloop/...``), for workers whose ``python3`` has the dependencies."""
    source = Path(streamloop.__file__).parent
    out = Path(out_dir) / "streamloop-nodeps.zip"
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(source.rglob("*.py")):
            zf.write(path, f"streamloop-nodeps/src/streamloop/{path.relative_to(source).as_posix()}")
    return out


def _error(status: dict[str, Any]) -> str:
    latest = (status.get("latestUserExceptions") or []) + (status.get("latestSystemExceptions") or [])
    text = status.get("error") or (latest[-1].get("exceptionString", "") if latest else "")
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1][:100] if lines else ""


STATUS_COLUMNS = (
    "FUNCTION",
    "INSTANCE",
    "WORKER",
    "RUNNING",
    "RECEIVED",
    "PROCESSED",
    "EXCEPTIONS",
    "RESTARTS",
    "LATENCY_MS",
    "LAST_ERROR",
)


def all_running(statuses: Sequence[tuple[str, dict[str, Any] | None]]) -> bool:
    """Whether every function has instances and every one of them runs.

    >>> all_running([("f", {"numInstances": 1, "numRunning": 1})])
    True
    >>> all_running([("f", {"numInstances": 0, "numRunning": 0})])  # just created: not scheduled yet
    False
    """
    return all(
        s and s.get("numInstances", 0) > 0 and s.get("numRunning") == s["numInstances"] for _, s in statuses
    )


def status_or_none(admin: Admin, namespace: str, name: str) -> dict[str, Any] | None:
    """The function's status document, ``None`` if the workers do not know it (yet: right after its create,
    a worker may answer 404 for a moment)."""
    try:
        return admin.function_status(namespace, name)
    except AdminError as error:
        if error.status != 404:
            raise
        return None


def status_table(statuses: Sequence[tuple[str, dict[str, Any] | None]]) -> Table:
    """One row per instance of every function (``None``: not deployed), with the worker it runs on."""
    table = Table(*STATUS_COLUMNS, box=None, pad_edge=False, header_style="bold")
    for name, document in statuses:
        if document is None:
            table.add_row(name, "-", "-", Text("not deployed", style="yellow"))
            continue
        for instance in sorted(document.get("instances") or [], key=lambda i: i.get("instanceId", 0)):
            s = instance.get("status") or {}
            exceptions = int(s.get("numUserExceptions") or 0) + int(s.get("numSystemExceptions") or 0)
            table.add_row(
                name,
                str(instance.get("instanceId", "")),
                str(s.get("workerId") or "-"),
                Text("yes", style="green") if s.get("running") else Text("no", style="red"),
                str(s.get("numReceived", 0)),
                str(s.get("numSuccessfullyProcessed", 0)),
                str(exceptions),
                str(s.get("numRestarts", 0)),
                f"{float(s.get('averageLatency') or 0):.2f}",
                Text(_error(s), style="red"),
            )
    return table


def main(argv: Sequence[str] | None = None) -> int:
    """Write a FunctionConfig YAML with its ``generate`` secrets filled (``packaging/deploy.sh``)."""
    parser = argparse.ArgumentParser(prog="python -m streamloop.tools.deployment", description=main.__doc__)
    parser.add_argument("config", help="a FunctionConfig YAML (pulsar-config/learner.yaml)")
    parser.add_argument("out", help="where to write it, mode 0600")
    parser.add_argument("--key-dir", help="the key store (default: $STREAMLOOP_KEY_DIR or ~/.config/...)")
    args = parser.parse_args(argv)
    config = yaml.safe_load(Path(args.config).read_text())
    filled, used = with_keys(config, KeyStore(args.key_dir or default_key_dir()))
    write_private(args.out, yaml.safe_dump(filled, sort_keys=False))
    for line in describe_keys(str(config.get("name", args.config)), used):
        print(line, file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
