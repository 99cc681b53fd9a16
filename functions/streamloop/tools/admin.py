"""Pulsar's admin REST API, the parts ``streamloop deploy``/``undeploy``/``status`` use (no JVM needed).

A function is created like ``pulsar-admin functions create --function-config-file f.yaml --py pkg.zip``
does it: ``POST /admin/v3/functions/{tenant}/{namespace}/{name}`` with a multipart body holding the
FunctionConfig as JSON (``functionConfig``) and the package (``data``).

>>> body, content_type = multipart({"functionConfig": (None, b'{"name": "f"}', "application/json")})
>>> content_type.startswith("multipart/form-data; boundary="), b'name="functionConfig"' in body
(True, True)
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Models: the compacted topic keeps only the latest model per name once it holds more than this.
COMPACTION_THRESHOLD_BYTES = 8 * 1024 * 1024


class AdminError(RuntimeError):
    """An admin call failed: the method, path, HTTP status and Pulsar's reason."""


def multipart(fields: Mapping[str, tuple[str | None, bytes, str]]) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body of ``name → (filename or None, content, content type)``."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, (filename, content, content_type) in fields.items():
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\nContent-Type: {content_type}\r\n\r\n"
        parts.append(head.encode() + content + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@dataclass
class Admin:
    """The admin REST API at ``url`` (e.g. ``http://127.0.0.1:8080``)."""

    url: str = "http://127.0.0.1:8080"
    timeout: float = 120.0

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str = "application/json",
        ok: tuple[int, ...] = (),
    ) -> Any:
        """Call the API; return the decoded JSON answer (or ``None``). Statuses in ``ok`` are not errors."""
        request = urllib.request.Request(self.url.rstrip("/") + path, data=body, method=method)
        if body is not None:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                text = response.read()
        except urllib.error.HTTPError as error:
            if error.code in ok:
                return None
            raise AdminError(f"{method} {path}: HTTP {error.code}: {_reason(error.read())}") from None
        except urllib.error.URLError as error:
            raise AdminError(f"{method} {path}: cannot reach {self.url} ({error.reason})") from None
        return json.loads(text) if text.strip() else None

    # -- namespaces and topics -------------------------------------------------------------------------
    def ensure_namespace(self, namespace: str) -> None:
        """Create ``tenant/namespace`` unless it exists."""
        self.request("PUT", f"/admin/v2/namespaces/{namespace}", b"{}", ok=(409,))

    def create_topics(
        self, namespace: str, names: list[str], compacted: tuple[str, ...] = ("models",)
    ) -> None:
        """Create non-partitioned topics (existing ones are kept) and set compaction on ``compacted``."""
        for name in names:
            self.request("PUT", f"/admin/v2/persistent/{namespace}/{name}", ok=(409,))
        for name in compacted:
            path = f"/admin/v2/persistent/{namespace}/{name}/compactionThreshold"
            self.request("POST", path, str(COMPACTION_THRESHOLD_BYTES).encode())

    def set_retention(self, namespace: str, name: str, minutes: int, megabytes: int) -> None:
        """Keep a topic's acked messages ``minutes``/``megabytes`` long (-1: unlimited), as a topic policy."""
        body = json.dumps({"retentionTimeInMinutes": minutes, "retentionSizeInMB": megabytes}).encode()
        self.request("POST", f"/admin/v2/persistent/{namespace}/{name}/retention", body)

    def delete_topics(self, namespace: str, names: list[str]) -> None:
        """Force-delete topics (missing ones are fine)."""
        for name in names:
            self.request("DELETE", f"/admin/v2/persistent/{namespace}/{name}?force=true", ok=(404,))

    # -- functions -------------------------------------------------------------------------------------
    def create_function(self, config: Mapping[str, Any], package: Path, update: bool = False) -> None:
        """``functions create`` (or ``update``) of a FunctionConfig with its package file."""
        body, content_type = multipart(
            {
                "data": (package.name, package.read_bytes(), "application/octet-stream"),
                "functionConfig": (None, json.dumps(dict(config)).encode(), "application/json"),
            }
        )
        path = f"/admin/v3/functions/{config['tenant']}/{config['namespace']}/{config['name']}"
        self.request("PUT" if update else "POST", path, body, content_type)

    def delete_function(self, namespace: str, name: str) -> bool:
        """``functions delete``; ``False`` if there was no such function."""
        try:
            self.request("DELETE", f"/admin/v3/functions/{namespace}/{name}")
        except AdminError as error:
            if "HTTP 404" in str(error) or "doesn't exist" in str(error):
                return False
            raise
        return True

    def function_status(self, namespace: str, name: str) -> dict[str, Any]:
        """The ``FunctionStatus`` document (``numInstances``, ``numRunning``, ``instances[...]``)."""
        return self.request("GET", f"/admin/v3/functions/{namespace}/{name}/status")


def _reason(body: bytes) -> str:
    """Pulsar's ``{"reason": ...}`` error text, or the raw body."""
    try:
        return str(json.loads(body).get("reason"))
    except (ValueError, AttributeError):
        return body.decode(errors="replace")[:500]
