"""The one admin REST client (``streamloop.tools.admin``) against a stand-in HTTP server: what a failed
call says, which statuses are not errors, and that a silent server does not hang a call."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from streamloop.tools.admin import Admin, AdminError

ANSWERS = {
    ("GET", "/admin/v3/functions/public/default/scorer/status"): (200, b'{"numRunning": 1}'),
    ("GET", "/admin/v3/functions/public/default/gone/status"): (
        404,
        b'{"reason": "Function gone doesn\'t exist"}',
    ),
    ("DELETE", "/admin/v3/functions/public/default/gone"): (
        404,
        b'{"reason": "Function gone doesn\'t exist"}',
    ),
    ("PUT", "/admin/v2/namespaces/public/default"): (409, b'{"reason": "Namespace already exists"}'),
    ("GET", "/admin/v2/brokers/ready"): (200, b"ok"),
}


class Handler(BaseHTTPRequestHandler):
    def answer(self) -> None:
        if self.path == "/slow":
            threading.Event().wait(2)
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        status, body = ANSWERS.get((self.command, self.path), (500, b"unexpected"))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_DELETE = answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def admin() -> Iterator[Admin]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield Admin(f"http://127.0.0.1:{server.server_address[1]}", timeout=5)
    server.shutdown()
    server.server_close()


def test_answers_are_decoded_and_expected_statuses_are_not_errors(admin: Admin):
    assert admin.function_status("public/default", "scorer") == {"numRunning": 1}
    assert admin.request("GET", "/admin/v2/brokers/ready") == "ok"  # plain text stays text
    admin.ensure_namespace("public/default")  # 409: it exists, which is what was asked
    assert admin.delete_function("public/default", "gone") is False


def test_a_failed_call_names_method_path_status_and_reason(admin: Admin):
    with pytest.raises(AdminError) as failed:
        admin.function_status("public/default", "gone")
    assert failed.value.status == 404
    assert str(failed.value) == (
        "GET /admin/v3/functions/public/default/gone/status: HTTP 404: Function gone doesn't exist"
    )


def test_a_silent_server_times_out_and_an_absent_one_is_unreachable(admin: Admin):
    with pytest.raises(AdminError, match="no answer from") as slow:
        admin.request("GET", "/slow", timeout=0.3)
    assert slow.value.status is None
    with pytest.raises(AdminError, match=r"cannot reach http://127\.0\.0\.1:9 "):
        Admin("http://127.0.0.1:9", timeout=1).function_status("public/default", "scorer")


# -- a cluster of several brokers, redirects, function workers apart ------------------------------------
class Recorder(BaseHTTPRequestHandler):
    """Records every call (method, path, body, content type, Authorization) and answers with the server's
    ``script``: ``path → (status, body, headers)``; ``"drop"`` closes the connection without an answer."""

    def answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        server: Any = self.server
        server.calls.append(
            (
                self.command,
                self.path,
                body,
                self.headers.get("Content-Type"),
                self.headers.get("Authorization"),
            )
        )
        reply = server.script.get(self.path, (200, b'{"ok": true}', {}))
        if isinstance(reply, list):  # answers in turn, the last one for good
            reply = reply.pop(0) if len(reply) > 1 else reply[0]
        if reply == "drop":
            self.close_connection = True
            return
        status, text, headers = reply
        self.send_response(status)
        for key, value in {**headers, "Content-Length": str(len(text))}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(text)

    do_GET = do_PUT = do_POST = do_DELETE = answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def servers() -> Iterator[Callable[[], Any]]:
    """Start recording servers on demand (``server.url``, ``server.calls``, ``server.script``)."""
    started: list[Any] = []

    def start() -> Any:
        server: Any = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
        server.calls, server.script = [], {}
        server.url = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


DEAD = "http://127.0.0.1:9"
READY = "/admin/v2/brokers/ready"


def test_a_call_survives_a_dead_broker_and_stays_with_the_one_that_answered(servers):
    first, second = servers(), servers()
    admin = Admin(f"{DEAD},{first.url.removeprefix('http://')},{second.url}", timeout=5)
    assert admin.request("GET", READY) == {"ok": True}
    first.script[READY] = "drop"  # the connection is reset before any answer: the next host is asked
    assert admin.request("GET", READY) == {"ok": True}
    assert (len(first.calls), len(second.calls)) == (2, 1)
    first.script.clear()
    admin.request("GET", READY)  # the last host that answered is asked first
    assert (len(first.calls), len(second.calls)) == (2, 2)


def test_an_http_error_is_the_clusters_answer_not_retried_elsewhere(servers):
    first, second = servers(), servers()
    first.script[READY] = (500, b'{"reason": "broken"}', {})
    with pytest.raises(AdminError, match=r"HTTP 500: broken") as failed:
        Admin(f"{first.url},{second.url}", timeout=5).request("GET", READY)
    assert failed.value.status == 500 and second.calls == []


def test_when_no_host_answers_the_message_names_each(servers):
    silent = servers()
    silent.script[READY] = "drop"
    with pytest.raises(AdminError) as failed:
        Admin(f"{DEAD},{silent.url}", timeout=5).request("GET", READY)
    message = str(failed.value)
    assert message.startswith(f"GET {READY}: cannot reach {DEAD} (") and failed.value.status is None
    assert f"; no answer from {silent.url} (" in message


def test_a_redirect_is_followed_with_the_same_method_body_type_and_token(servers):
    broker, owner = servers(), servers()
    path = "/admin/v2/persistent/public/default/events/retention"
    broker.script[path] = (307, b"", {"Location": f"{owner.url}{path}?authoritative=true"})
    admin = Admin(broker.url, timeout=5, token=lambda: "t0ken")
    admin.set_retention("public/default", "events", -1, -1)
    method, where, body, content_type, authorization = owner.calls[0]
    assert (method, where, content_type, authorization) == (
        "POST",
        f"{path}?authoritative=true",
        "application/json",
        "Bearer t0ken",
    )
    assert body == b'{"retentionTimeInMinutes": -1, "retentionSizeInMB": -1}'


def test_a_redirect_loop_is_an_error_naming_it(servers):
    broker = servers()
    broker.script[READY] = (307, b"", {"Location": READY})
    with pytest.raises(AdminError, match=r"more than 5 redirects \(a redirect loop\?\)"):
        Admin(broker.url, timeout=5).request("PUT", READY, b"{}")
    assert len(broker.calls) == 6


def test_the_functions_api_goes_to_the_workers(servers):
    broker, worker = servers(), servers()
    admin = Admin(broker.url, timeout=5, functions_url=f"{DEAD},{worker.url}")
    admin.function_status("public/default", "scorer")
    admin.request("GET", "/admin/v2/worker-stats/functionsmetrics")
    admin.ensure_namespace("public/default")
    assert [call[1] for call in worker.calls] == [
        "/admin/v3/functions/public/default/scorer/status",
        "/admin/v2/worker-stats/functionsmetrics",
    ]
    assert [call[1] for call in broker.calls] == ["/admin/v2/namespaces/public/default"]
    assert admin.unavailable() is None
    worker.script["/admin/v2/worker/cluster/leader"] = (503, b'{"reason": "no leader"}', {})
    assert admin.unavailable() == (
        f"no functions worker at {DEAD},{worker.url} "
        "(GET /admin/v2/worker/cluster/leader: HTTP 503: no leader)"
    )


def test_topics_are_created_and_deleted_partitioned_or_not(servers):
    broker = servers()
    base = "/admin/v2/persistent/public/default"
    broker.script[f"{base}/events/partitions"] = (200, b'{"partitions": 4}', {})
    broker.script[f"{base}/models/partitions"] = (200, b'{"partitions": 0}', {})
    admin = Admin(broker.url, timeout=5)
    assert admin.create_topic("public/default", "events", 4) == 4
    assert admin.create_topic("public/default", "models") == 0
    admin.delete_topics("public/default", ["events", "models"])
    assert [(call[0], call[1], call[2]) for call in broker.calls] == [
        ("PUT", f"{base}/events/partitions", b"4"),
        ("GET", f"{base}/events/partitions", b""),
        ("PUT", f"{base}/models", b""),
        ("GET", f"{base}/models/partitions", b""),
        ("GET", f"{base}/events/partitions", b""),
        ("DELETE", f"{base}/events/partitions?force=true", b""),
        ("GET", f"{base}/models/partitions", b""),
        ("DELETE", f"{base}/models?force=true", b""),
    ]


def test_a_topic_still_closing_is_deleted_on_a_later_try(servers, monkeypatch):
    monkeypatch.setattr("streamloop.tools.admin.time.sleep", lambda seconds: None)
    broker = servers()
    base = "/admin/v2/persistent/public/default"
    broker.script[f"{base}/labels/partitions"] = (200, b'{"partitions": 2}', {})
    closing = (500, b'{"reason": "Topic is already being closed or deleted"}', {})
    fenced = (500, b'{"reason": "Message: Topic is already fenced"}', {})  # a cluster's partition closing
    broker.script[f"{base}/labels/partitions?force=true"] = [closing, fenced, (204, b"", {})]
    broker.script[f"{base}/events/partitions"] = (200, b'{"partitions": 0}', {})
    broker.script[f"{base}/events?force=true"] = (500, b'{"reason": "Topic has active producers"}', {})
    admin = Admin(broker.url, timeout=5)
    admin.delete_topic("persistent://public/default/labels")
    deletes = [call[1] for call in broker.calls if call[0] == "DELETE"]
    assert deletes == [f"{base}/labels/partitions?force=true"] * 3
    with pytest.raises(AdminError, match="active producers"):  # any other refusal is not retried
        admin.delete_topic("persistent://public/default/events")
    assert sum(1 for call in broker.calls if call[1] == f"{base}/events?force=true") == 1


def test_topics_wait_until_the_deleted_functions_instances_have_left_them(servers, monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr("streamloop.tools.admin.time.sleep", slept.append)
    broker = servers()
    base = "/admin/v2/persistent/public/default"
    broker.script["/admin/v2/namespaces/public/default/topics"] = (
        200,
        b'["persistent://public/default/events-partition-0", "persistent://public/default/labels"]',
        {},
    )
    connected = b'{"subscriptions": {"public/default/features": {"consumers": [{"consumerName": "a"}]}}}'
    left = b'{"subscriptions": {"public/default/features": {"consumers": []}}}'
    broker.script[f"{base}/events-partition-0/stats"] = [
        (200, connected, {}),
        (200, connected, {}),
        (200, left, {}),
    ]
    other = b'{"subscriptions": {"someone-else": {"consumers": [{"consumerName": "b"}]}}}'
    broker.script[f"{base}/labels/stats"] = [(200, other, {}), (404, b'{"reason": "Topic not found"}', {})]
    admin = Admin(broker.url, timeout=5)
    assert admin.wait_instances_gone("public/default", ["public/default/features"], within=30) == []
    assert slept == [1.0, 1.0]  # a consumer of another subscription is not waited for; a gone topic is fine
    broker.script[f"{base}/events-partition-0/stats"] = (200, connected, {})
    still = admin.wait_instances_gone("public/default", ["public/default/features"], within=0)
    assert still == ["persistent://public/default/events-partition-0 / public/default/features"]
