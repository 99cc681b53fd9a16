"""The four functions on a cluster: FunctionConfig YAMLs moved to a namespace, a code package, a status table.

``streamloop deploy`` has the effect of ``packaging/deploy.sh deploy``: the loop's topics (``models``
compacted), then one ``functions create`` per unchanged ``pulsar-config/*.yaml``. ``--namespace`` moves a
whole loop elsewhere: the files' tenant, namespace and every ``persistent://<their namespace>/`` topic.

>>> config = {"tenant": "public", "namespace": "default", "name": "scorer",
...           "inputs": ["persistent://public/default/features"],
...           "userConfig": {"models_topic": "persistent://public/default/models"}}
>>> moved = in_namespace(config, "public/cli1")
>>> moved["namespace"], moved["inputs"], moved["userConfig"]["models_topic"], moved["runtime"]
('cli1', ['persistent://public/cli1/features'], 'persistent://public/cli1/models', 'PYTHON')
>>> from streamloop.tools.terminal import plain
>>> print(plain(status_table([("scorer", {"instances": [{"instanceId": 0, "status": {
...     "running": True, "numReceived": 7, "numSuccessfullyProcessed": 7, "numUserExceptions": 0,
...     "numSystemExceptions": 0, "numRestarts": 0, "averageLatency": 1.25}}]})])))
FUNCTION  INSTANCE  RUNNING  RECEIVED  PROCESSED  EXCEPTIONS  RESTARTS  LATENCY_MS  LAST_ERROR
scorer    0         yes      7         7          0           0         1.25
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

import streamloop

FUNCTIONS = ("features", "scorer", "joiner", "learner")
TOPICS = ["events", "labels", "features", "predictions", "examples", "models", "metrics", "dead-letters"]
# Kept after they are acked: the learner's history (backfill) and what `streamloop report` reads.
RETAINED = ("examples", "metrics")


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
    "RUNNING",
    "RECEIVED",
    "PROCESSED",
    "EXCEPTIONS",
    "RESTARTS",
    "LATENCY_MS",
    "LAST_ERROR",
)


def status_table(statuses: Sequence[tuple[str, dict[str, Any] | None]]) -> Table:
    """One row per instance of every function (``None``: not deployed)."""
    table = Table(*STATUS_COLUMNS, box=None, pad_edge=False, header_style="bold")
    for name, document in statuses:
        if document is None:
            table.add_row(name, "-", Text("not deployed", style="yellow"))
            continue
        for instance in sorted(document.get("instances") or [], key=lambda i: i.get("instanceId", 0)):
            s = instance.get("status") or {}
            exceptions = int(s.get("numUserExceptions") or 0) + int(s.get("numSystemExceptions") or 0)
            table.add_row(
                name,
                str(instance.get("instanceId", "")),
                Text("yes", style="green") if s.get("running") else Text("no", style="red"),
                str(s.get("numReceived", 0)),
                str(s.get("numSuccessfullyProcessed", 0)),
                str(exceptions),
                str(s.get("numRestarts", 0)),
                f"{float(s.get('averageLatency') or 0):.2f}",
                Text(_error(s), style="red"),
            )
    return table
