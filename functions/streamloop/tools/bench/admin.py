"""The few Pulsar admin REST calls the broker bench needs (urllib: no ~4 s JVM start per call).

Every call is bounded by ``timeout`` seconds and goes to the admin URL only (``PULSAR_ADMIN_URL``,
default ``http://127.0.0.1:8080``).
"""

from __future__ import annotations

import contextlib
import os
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import orjson

ADMIN_URL = os.environ.get("PULSAR_ADMIN_URL", "http://127.0.0.1:8080").rstrip("/")
SERVICE_URL = os.environ.get("PULSAR_SERVICE_URL", "pulsar://127.0.0.1:6650")


class AdminError(RuntimeError):
    """An admin call answered with an error status."""


def call(
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> Any:
    """``method ADMIN_URL + path``; the decoded JSON answer (``None`` if empty)."""
    request = urllib.request.Request(ADMIN_URL + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read()
    except urllib.error.HTTPError as error:
        raise AdminError(f"{method} {path}: {error.code} {error.read()[:500]!r}") from None
    try:
        return orjson.loads(text) if text.strip() else None
    except orjson.JSONDecodeError:  # a plain-text answer ("ok")
        return text.decode(errors="replace")


def unavailable() -> str | None:
    """Why no broker with a functions worker answers, or ``None``."""
    try:
        call("GET", "/admin/v2/brokers/ready", timeout=3)
        call("GET", "/admin/v2/worker/cluster/leader", timeout=3)
    except (urllib.error.URLError, OSError, AdminError, ValueError) as error:
        return f"no broker at {ADMIN_URL} ({error})"
    return None


def create_namespace(namespace: str) -> None:
    call("PUT", f"/admin/v2/namespaces/{namespace}", b"{}", {"Content-Type": "application/json"})


def delete_namespace(namespace: str) -> str | None:
    """Delete ``namespace`` after its topics (brokers refuse a forced namespace delete by default).

    Returns why it failed, or ``None``. Instances of just-deleted functions may still be connected and
    recreate topics, and the topic-policies system topic keeps the namespace "non empty" for a while:
    each attempt deletes the topics again, for up to a minute.
    """
    error = None
    for _ in range(30):
        try:
            for name in call("GET", f"/admin/v2/namespaces/{namespace}/topics") or []:
                path = name.replace("persistent://", "persistent/", 1)
                with contextlib.suppress(AdminError):  # a partition or an already deleted topic
                    call("DELETE", f"/admin/v2/{path}?force=true", timeout=60)
            call("DELETE", f"/admin/v2/namespaces/{namespace}", timeout=60)
            return None
        except (urllib.error.URLError, OSError, AdminError) as failed:
            error = str(failed)
            time.sleep(2)
    return error


def create_function(config: dict[str, Any], package: Path) -> None:
    """``functions create`` over REST: the FunctionConfig as JSON and the package as the upload."""
    boundary = uuid.uuid4().hex
    parts = [
        ('name="functionConfig"', "application/json", orjson.dumps(config)),
        (f'name="data"; filename="{package.name}"', "application/octet-stream", package.read_bytes()),
    ]
    head = "--{}\r\nContent-Disposition: form-data; {}\r\nContent-Type: {}\r\n\r\n"
    body = b"".join(
        head.format(boundary, disposition, kind).encode() + data + b"\r\n"
        for disposition, kind, data in parts
    )
    body += f"--{boundary}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    call("POST", f"/admin/v3/functions/{function_path(config)}", body, headers, timeout=120)


def delete_function(fqfn: str) -> None:
    with contextlib.suppress(urllib.error.URLError, OSError, AdminError):
        call("DELETE", f"/admin/v3/functions/{fqfn}", timeout=60)


def function_path(config: dict[str, Any]) -> str:
    return f"{config['tenant']}/{config['namespace']}/{config['name']}"


def function_stats(fqfn: str) -> dict[str, Any]:
    return call("GET", f"/admin/v3/functions/{fqfn}/stats", timeout=10) or {}


def topic_stats(topic: str) -> dict[str, Any]:
    path = topic.replace("persistent://", "persistent/", 1)
    return call("GET", f"/admin/v2/{path}/stats", timeout=10) or {}
