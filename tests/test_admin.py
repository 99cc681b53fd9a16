"""The one admin REST client (``streamloop.tools.admin``) against a stand-in HTTP server: what a failed
call says, which statuses are not errors, and that a silent server does not hang a call."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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
