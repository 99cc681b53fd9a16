"""Pulsar's admin REST API: the one client the CLI, the bench and the broker tests use (no JVM needed).

Standard-library ``urllib``: a handful of JSON calls and one multipart upload need no HTTP library, and the
tools stay installable next to the worker's dependencies. Every call is bounded by a timeout (the client's,
or the call's own), and every failure is an :class:`AdminError` naming the method, the path, the HTTP
status (``status``, ``None`` when the cluster cannot be reached) and Pulsar's reason.

On a secured cluster (see :mod:`streamloop.tools.connection`, which builds this client from the options):
``token`` gives the ``Authorization: Bearer`` token, asked for at each call (a token file is read again,
so a rotated token is picked up), and ``ssl_context`` the trusted CAs, hostname verification and client
certificate of ``https`` URLs. A refused authentication (401), a missing permission (403) and an
untrusted certificate each get their own message; the token never appears in one.

A cluster of several brokers is named the way Pulsar's clients take it, ``http://b1:8080,b2:8080`` (each
host may carry its own scheme). A call goes to the host that answered last; when a host cannot be reached
(refused, reset, or silent until the timeout, before any HTTP answer) the call tries the next one, so it
survives a dead broker; an HTTP error answer is the cluster's answer, not retried elsewhere. A broker that
does not own a topic (or a worker that is not the leader) answers 307 with the owner's address: the call is
sent there again, same method, body and headers, up to :data:`MAX_REDIRECTS` times. With function workers
run apart from the brokers (``functionsWorkerEnabled=false``), the functions API is the workers':
``functions_url`` (default: ``url``) receives every call under :data:`FUNCTIONS_PATHS`.

A function is created like ``pulsar-admin functions create --function-config-file f.yaml --py pkg.zip``
does it: ``POST /admin/v3/functions/{tenant}/{namespace}/{name}`` with a multipart body holding the
FunctionConfig as JSON (``functionConfig``) and the package (``data``).

>>> body, content_type = multipart({"functionConfig": (None, b'{"name": "f"}', "application/json")})
>>> content_type.startswith("multipart/form-data; boundary="), b'name="functionConfig"' in body
(True, True)
>>> Admin("http://127.0.0.1:9").unavailable(timeout=1).startswith("no broker at http://127.0.0.1:9")
True
>>> hosts("http://127.0.0.1:8090,127.0.0.1:8091/")
['http://127.0.0.1:8090', 'http://127.0.0.1:8091']
"""

from __future__ import annotations

import contextlib
import json
import ssl
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

from streamloop.worker.config import base_topic

# Models: the compacted topic keeps only the latest model per name once it holds more than this.
COMPACTION_THRESHOLD_BYTES = 8 * 1024 * 1024
# The paths the function workers serve (``functions_url``); every other one is a broker's (``url``).
FUNCTIONS_PATHS = ("/admin/v3/functions", "/admin/v2/worker/", "/admin/v2/worker-stats/")
MAX_REDIRECTS = 5
"""307/308 answers followed by one call; more is a redirect loop."""
TOPIC_CLOSING = ("being closed or deleted", "already fenced")
"""What the broker says when it refuses a topic's deletion because the topic is still closing."""


class AdminError(RuntimeError):
    """An admin call failed: the method, path, HTTP status and Pulsar's reason."""

    def __init__(self, message: str, status: int | None = None, not_authorized: bool = False) -> None:
        super().__init__(message)
        self.status = status
        """The HTTP status of the answer; ``None`` when there was no answer."""
        self.not_authorized = not_authorized
        """The cluster knows the role and refused it the operation (a missing permission)."""


def multipart(fields: Mapping[str, tuple[str | None, bytes, str]]) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body of ``name → (filename or None, content, content type)``."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, (filename, content, content_type) in fields.items():
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\nContent-Type: {content_type}\r\n\r\n"
        parts.append(head.encode() + content + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def hosts(url: str) -> list[str]:
    """The base URLs of a multi-host URL: ``scheme://h1:p1,h2:p2`` or ``scheme://h1:p1,scheme://h2:p2``.

    >>> hosts("https://b1:8443,http://b2:8080")
    ['https://b1:8443', 'http://b2:8080']
    """
    scheme = url.partition("://")[0] if "://" in url else "http"
    return [
        (item if "://" in item else f"{scheme}://{item}").rstrip("/")
        for item in (part.strip() for part in url.split(","))
        if item
    ]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects come back as ``HTTPError``: :meth:`Admin.request` follows them for every method."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def rest_path(topic: str) -> str:
    """The REST path of a fully qualified topic.

    >>> rest_path("persistent://public/default/events")
    '/admin/v2/persistent/public/default/events'
    """
    return "/admin/v2/" + topic.replace("://", "/", 1)


@dataclass
class Admin:
    """The admin REST API at ``url`` (e.g. ``http://127.0.0.1:8080``, or several hosts), the functions API
    at ``functions_url`` (default: ``url``); calls time out after ``timeout`` s."""

    url: str = "http://127.0.0.1:8080"
    timeout: float = 120.0
    token: Callable[[], str] | None = field(default=None, repr=False)
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)
    functions_url: str | None = None
    _last: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)
    """Per URL, the index of the host that answered last."""

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str = "application/json",
        ok: tuple[int, ...] = (),
        timeout: float | None = None,
    ) -> Any:
        """Call the API; return the decoded JSON answer, its text if it is not JSON, or ``None`` if empty.

        Statuses in ``ok`` are not errors (the call returns ``None``).
        """
        url = (self.functions_url or self.url) if path.startswith(FUNCTIONS_PATHS) else self.url
        bases = hosts(url)
        first = self._last.get(url, 0) % len(bases)
        seconds = self.timeout if timeout is None else timeout
        unreachable = []
        for index in [*range(first, len(bases)), *range(first)]:
            try:
                host, answer = self._send(method, bases[index], path, body, content_type, seconds)
            except urllib.error.HTTPError as error:
                self._last[url] = index
                if error.code in ok:
                    return None
                raise self._refusal(f"{method} {path}", error.code, error.read(), error.filename) from None
            except urllib.error.URLError as error:
                if isinstance(error.reason, ssl.SSLCertVerificationError):
                    raise AdminError(
                        f"untrusted certificate at {bases[index]}: {error.reason.verify_message}; "
                        "pass --tls-trust-certs (or tlsTrustCertsFilePath in client.conf)"
                    ) from None
                unreachable.append(f"cannot reach {bases[index]} ({error.reason})")
                continue
            except OSError as error:  # a timeout or a reset connection before the answer
                unreachable.append(f"no answer from {bases[index]} ({error})")
                continue
            self._last[url] = index
            try:
                with answer:
                    text = answer.read()
            except OSError as error:  # a timeout or a reset connection while reading the answer
                raise AdminError(f"{method} {path}: no answer from {host} ({error})") from None
            if not text.strip():
                return None
            try:
                return json.loads(text)
            except ValueError:  # a plain-text answer ("ok", Prometheus metrics)
                return text.decode(errors="replace")
        raise AdminError(f"{method} {path}: {'; '.join(unreachable)}")

    def _send(
        self, method: str, base: str, path: str, body: bytes | None, content_type: str, timeout: float
    ) -> tuple[str, Any]:
        """Send the call to ``base``, following 307/308 to where they point; the answer and who gave it."""
        handlers: list[Any] = [_NoRedirect()]
        if self.ssl_context is not None:
            handlers.append(urllib.request.HTTPSHandler(context=self.ssl_context))
        opener = urllib.request.build_opener(*handlers)
        target, seen = base + path, []
        while True:
            request = urllib.request.Request(target, data=body, method=method)
            if body is not None:
                request.add_header("Content-Type", content_type)
            if self.token is not None:
                request.add_header("Authorization", f"Bearer {self.token()}")
            try:
                return target, opener.open(request, timeout=timeout)
            except urllib.error.HTTPError as error:
                location = error.headers.get("Location")
                if error.code not in (307, 308) or not location:
                    raise
                error.close()
                seen.append(target)
                target = urljoin(target, location)
                if len(seen) > MAX_REDIRECTS:
                    raise AdminError(
                        f"{method} {path}: more than {MAX_REDIRECTS} redirects (a redirect loop?): "
                        + " -> ".join([*seen, target]),
                        error.code,
                    ) from None

    def _refusal(self, call: str, code: int, body: bytes, host: str) -> AdminError:
        """The error of an HTTP error answer to ``call``: the status and Pulsar's reason, or what a 401 means.

        Pulsar answers 401 both for a refused authentication (an HTML page from the web server) and for
        an authenticated role that lacks a permission (a JSON reason naming the role and the operation).
        """
        reason = _json_reason(body)
        if code not in (401, 403):
            text = body.decode(errors="replace")[:500] if reason is None else reason
            return AdminError(f"{call}: HTTP {code}: {text}", code)
        if reason is not None:
            return AdminError(f"{call}: HTTP {code}: not authorized: {reason}", code, not_authorized=True)
        refused = f"{_base(host)} refused authentication (wrong or expired token, or none given)"
        return AdminError(f"{call}: HTTP {code}: {refused}", code)

    def unavailable(self, timeout: float = 3.0) -> str | None:
        """Why no broker (at ``url``) or no functions worker (at ``functions_url``) answers, or ``None``."""
        try:
            self.request("GET", "/admin/v2/brokers/ready", timeout=timeout)
        except AdminError as error:
            return f"no broker at {self.url} ({error})"
        try:
            self.request("GET", "/admin/v2/worker/cluster/leader", timeout=timeout)
        except AdminError as error:
            return f"no functions worker at {self.functions_url or self.url} ({error})"
        return None

    # -- namespaces and topics -------------------------------------------------------------------------
    def ensure_namespace(self, namespace: str) -> None:
        """Create ``tenant/namespace`` unless it exists."""
        self.request("PUT", f"/admin/v2/namespaces/{namespace}", b"{}", ok=(409,))

    def set_namespace_retention(self, namespace: str, minutes: int, megabytes: int) -> None:
        """Keep the namespace's acked messages ``minutes``/``megabytes`` long (-1: unlimited)."""
        body = json.dumps({"retentionTimeInMinutes": minutes, "retentionSizeInMB": megabytes}).encode()
        self.request("POST", f"/admin/v2/namespaces/{namespace}/retention", body)

    def namespace_topics(self, namespace: str, timeout: float | None = None) -> list[str]:
        """The fully qualified topics (and partitions) of ``tenant/namespace``."""
        return self.request("GET", f"/admin/v2/namespaces/{namespace}/topics", timeout=timeout) or []

    def delete_namespace(
        self,
        namespace: str,
        *,
        topics: bool = True,
        within: float = 0.0,
        every: float = 2.0,
        timeout: float | None = None,
    ) -> str | None:
        """Delete ``tenant/namespace`` (first its ``topics``: brokers refuse a forced namespace delete by
        default), trying again every ``every`` s for ``within`` s; returns why it failed, or ``None``.

        A namespace that does not exist is deleted. Instances of just-deleted functions may still be
        connected and recreate topics, and the topic-policies system topic keeps the namespace "non empty"
        for a while: hence ``within``.
        """
        deadline = time.monotonic() + within
        while True:
            try:
                if topics:
                    listed = self.namespace_topics(namespace, timeout=timeout)
                    path = f"/admin/v2/persistent/{namespace}/partitioned"
                    partitioned = self.request("GET", path, timeout=timeout) or []
                    for name in sorted({base_topic(name) for name in [*listed, *partitioned]}):
                        with contextlib.suppress(AdminError):  # an already deleted topic
                            self.delete_topic(name, timeout=timeout)
                self.request("DELETE", f"/admin/v2/namespaces/{namespace}", ok=(404,), timeout=timeout)
                return None
            except AdminError as error:
                if time.monotonic() >= deadline:
                    return str(error)
            time.sleep(every)

    def create_topic(self, namespace: str, name: str, partitions: int = 0) -> int:
        """Create a topic of ``partitions`` partitions (0: not partitioned) unless one of that name exists;
        return how many the topic has (0: not partitioned), so a caller sees an existing one that differs."""
        path = f"/admin/v2/persistent/{namespace}/{name}"
        if partitions > 0:
            self.request("PUT", f"{path}/partitions", str(partitions).encode(), ok=(409,))
        else:
            self.request("PUT", path, ok=(409,))
        return self.partitions(f"persistent://{namespace}/{name}")

    def partitions(self, topic: str, timeout: float | None = None) -> int:
        """``topics get-partitioned-topic-metadata``: its partitions, 0 if not partitioned (or absent)."""
        answer = self.request("GET", f"{rest_path(topic)}/partitions", ok=(404,), timeout=timeout)
        return int((answer or {}).get("partitions") or 0)

    def set_compaction(self, namespace: str, name: str) -> None:
        """Compact the topic once it holds more than :data:`COMPACTION_THRESHOLD_BYTES`."""
        path = f"/admin/v2/persistent/{namespace}/{name}/compactionThreshold"
        self.request("POST", path, str(COMPACTION_THRESHOLD_BYTES).encode())

    def set_retention(self, namespace: str, name: str, minutes: int, megabytes: int) -> None:
        """Keep a topic's acked messages ``minutes``/``megabytes`` long (-1: unlimited), as a topic policy."""
        body = json.dumps({"retentionTimeInMinutes": minutes, "retentionSizeInMB": megabytes}).encode()
        self.request("POST", f"/admin/v2/persistent/{namespace}/{name}/retention", body)

    def set_offload_threshold(self, namespace: str, size_bytes: int) -> None:
        """Offload a topic's closed ledgers once it keeps over ``size_bytes`` in BookKeeper (-1: never)."""
        self.request("PUT", f"/admin/v2/namespaces/{namespace}/offloadThreshold", str(size_bytes).encode())

    def grant_permission(self, namespace: str, role: str, actions: tuple[str, ...]) -> None:
        """``namespaces grant-permission``: ``actions`` (produce, consume, functions, ...) for ``role``."""
        path = f"/admin/v2/namespaces/{namespace}/permissions/{quote(role, safe='')}"
        self.request("POST", path, json.dumps(list(actions)).encode())

    def unload(self, topic: str) -> None:
        """``topics unload``: close the topic's current ledger (it can then be offloaded) and reload it."""
        self.request("PUT", f"{rest_path(topic)}/unload")

    def offload(self, topic: str) -> dict[str, Any]:
        """``topics offload -s 0``: move every closed ledger of ``topic`` to tiered storage (it runs behind).

        Like pulsar-admin, it asks for everything before the first entry of the newest ledger.
        """
        ledgers = self.internal_stats(topic).get("ledgers") or []
        if not ledgers:
            raise AdminError(f"offload {topic}: the topic has no ledgers")
        body = json.dumps({"ledgerId": ledgers[-1]["ledgerId"], "entryId": 0, "partitionIndex": -1}).encode()
        return self.request("PUT", f"{rest_path(topic)}/offload", body) or {}

    def offload_status(self, topic: str) -> dict[str, Any]:
        """``topics offload-status``: ``{"status": "RUNNING" | "SUCCESS" | "ERROR" | "NOT_RUN", ...}``."""
        return self.request("GET", f"{rest_path(topic)}/offload") or {}

    def internal_stats(self, topic: str) -> dict[str, Any]:
        """``topics stats-internal``: the managed ledger's ledgers (``offloaded`` each), cursors, ..."""
        return self.request("GET", f"{rest_path(topic)}/internalStats") or {}

    def delete_topics(self, namespace: str, names: list[str], timeout: float | None = None) -> None:
        """Force-delete topics, partitioned or not (missing ones are fine)."""
        for name in names:
            self.delete_topic(f"persistent://{namespace}/{name}", timeout=timeout)

    def delete_topic(self, topic: str, timeout: float | None = None, attempts: int = 5) -> None:
        """Force-delete a topic with all its partitions if it is partitioned (a missing one is fine).

        A topic may still be closing (a subscription being deleted, a consumer leaving): the broker then
        answers 500 "Topic is already being closed or deleted" (or, for a partition of a partitioned topic
        on a cluster, "Topic is already fenced"), and the deletion is tried again, ``attempts`` times in
        all, 2 s apart. Right after ``functions delete``, wait for :meth:`wait_instances_gone` first.
        """
        path = rest_path(topic) + ("/partitions" if self.partitions(topic, timeout=timeout) else "")
        for attempt in range(attempts):
            try:
                self.request("DELETE", f"{path}?force=true", ok=(404,), timeout=timeout)
                return
            except AdminError as error:
                if not any(m in str(error) for m in TOPIC_CLOSING) or attempt == attempts - 1:
                    raise
            time.sleep(2.0)

    def wait_instances_gone(
        self, namespace: str, subscriptions: Iterable[str], within: float = 60.0, every: float = 1.0
    ) -> list[str]:
        """Wait until no consumer is connected to ``subscriptions`` on any topic of ``namespace``; return
        the ``topic / subscription`` pairs that still had one when ``within`` s ran out (``[]``: all gone).

        ``functions delete`` answers before the workers have stopped the instances: for a few seconds they
        stay connected, reconnect to a topic being deleted, and then the workers delete their
        subscriptions. Topics deleted in that window had partitions fenced on the cluster for every retry,
        and later deletes hanging until their timeout; so the topics go after this. A function's
        subscription is ``tenant/namespace/name`` unless its config sets ``subName``.
        """
        wanted = set(subscriptions)
        deadline = time.monotonic() + within
        while True:
            listed = self.request("GET", f"/admin/v2/namespaces/{namespace}/topics", ok=(404,)) or []
            connected = [
                f"{topic} / {name}"
                for topic in listed
                for name, subscription in self._subscriptions(topic).items()
                if name in wanted and subscription.get("consumers")
            ]
            if not connected or time.monotonic() >= deadline:
                return connected
            time.sleep(every)

    def _subscriptions(self, topic: str) -> dict[str, Any]:
        """A topic's subscriptions from its stats, by name (none if the topic has gone)."""
        stats = self.request("GET", f"{rest_path(topic)}/stats", ok=(404,)) or {}
        return stats.get("subscriptions") or {}

    def topic_stats(self, topic: str, timeout: float | None = None) -> dict[str, Any]:
        """``topics stats`` of a fully qualified topic (``msgInCounter``, ``subscriptions``, ...)."""
        return self.request("GET", f"{rest_path(topic)}/stats", timeout=timeout) or {}

    # -- brokers ---------------------------------------------------------------------------------------
    def dynamic_config(self, timeout: float | None = None) -> dict[str, str]:
        """``brokers get-all-dynamic-config``: the dynamic settings overridden cluster-wide (name → value)."""
        return self.request("GET", "/admin/v2/brokers/configuration/values", timeout=timeout) or {}

    def set_dynamic_config(self, name: str, value: str) -> None:
        """``brokers update-dynamic-config``: every broker of the cluster applies it (stored in metadata)."""
        path = f"/admin/v2/brokers/configuration/{quote(name, safe='')}/{quote(value, safe='')}"
        self.request("POST", path)

    def delete_dynamic_config(self, name: str) -> None:
        """``brokers delete-dynamic-config``: back to each broker's own configuration file."""
        self.request("DELETE", f"/admin/v2/brokers/configuration/{quote(name, safe='')}")

    # -- functions -------------------------------------------------------------------------------------
    def create_function(
        self, config: Mapping[str, Any], package: Path, update: bool = False, timeout: float | None = None
    ) -> None:
        """``functions create`` (or ``update``) of a FunctionConfig with its package file."""
        body, content_type = multipart(
            {
                "data": (package.name, package.read_bytes(), "application/octet-stream"),
                "functionConfig": (None, json.dumps(dict(config)).encode(), "application/json"),
            }
        )
        path = f"/admin/v3/functions/{config['tenant']}/{config['namespace']}/{config['name']}"
        self.request("PUT" if update else "POST", path, body, content_type, timeout=timeout)

    def scale_function(self, namespace: str, name: str, parallelism: int) -> None:
        """``functions update --parallelism``: the function as it is (package, config), so many instances."""
        tenant, short = namespace.split("/", 1)
        config = {"tenant": tenant, "namespace": short, "name": name, "parallelism": parallelism}
        part = (None, json.dumps(config).encode(), "application/json")
        body, content_type = multipart({"functionConfig": part})
        self.request("PUT", f"/admin/v3/functions/{namespace}/{name}", body, content_type)

    def delete_function(self, namespace: str, name: str, timeout: float | None = None) -> bool:
        """``functions delete``; ``False`` if there was no such function."""
        try:
            self.request("DELETE", f"/admin/v3/functions/{namespace}/{name}", timeout=timeout)
        except AdminError as error:
            if error.status == 404 or "doesn't exist" in str(error):
                return False
            raise
        return True

    def function_status(self, namespace: str, name: str, timeout: float | None = None) -> dict[str, Any]:
        """The ``FunctionStatus`` document (``numInstances``, ``numRunning``, ``instances[...]``)."""
        return self.request("GET", f"/admin/v3/functions/{namespace}/{name}/status", timeout=timeout)

    def function_stats(self, namespace: str, name: str, timeout: float | None = None) -> dict[str, Any]:
        """``functions stats`` (``processedSuccessfullyTotal``, ``instances[...]``)."""
        return self.request("GET", f"/admin/v3/functions/{namespace}/{name}/stats", timeout=timeout) or {}

    def get_state(self, namespace: str, name: str, key: str, timeout: float | None = None) -> str | None:
        """``functions querystate``: the string value of a state key, ``None`` if it has none."""
        path = f"/admin/v3/functions/{namespace}/{name}/state/{quote(key, safe='')}"
        value = self.request("GET", path, ok=(404,), timeout=timeout)
        return None if value is None else value.get("stringValue")

    def put_state(
        self, namespace: str, name: str, key: str, value: str, timeout: float | None = None
    ) -> None:
        """``functions putstate`` of a string value (a multipart form field ``state``)."""
        state = json.dumps({"key": key, "stringValue": value}).encode()
        body, content_type = multipart({"state": (None, state, "application/json")})
        path = f"/admin/v3/functions/{namespace}/{name}/state/{quote(key, safe='')}"
        self.request("POST", path, body, content_type, timeout=timeout)


def _base(url: str) -> str:
    """``scheme://host:port`` of a full URL.

    >>> _base("http://127.0.0.1:8090/admin/v2/brokers/ready")
    'http://127.0.0.1:8090'
    """
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def _json_reason(body: bytes) -> str | None:
    """Pulsar's ``{"reason": ...}`` error text, or ``None`` when the body is not one."""
    try:
        reason = json.loads(body).get("reason")
    except (ValueError, AttributeError):
        return None
    return None if reason is None else str(reason)
