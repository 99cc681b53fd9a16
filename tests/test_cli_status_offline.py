"""Cluster commands say clearly when the admin API cannot be reached."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cli_run import CONFIG_DIR, streamloop


def test_status_without_a_cluster_says_where_it_looked():
    result = streamloop("status", "--admin-url", "http://127.0.0.1:9", "--config-dir", CONFIG_DIR)
    assert result.returncode == 1
    assert "streamloop status:" in result.stderr and "cannot reach http://127.0.0.1:9" in result.stderr


def test_deploy_checks_the_files_before_touching_the_cluster(tmp_path):
    (tmp_path / "scorer.yaml").write_text(
        (CONFIG_DIR / "scorer.yaml").read_text() + "procesingGuarantees: x\n"
    )
    result = streamloop("deploy", "--admin-url", "http://127.0.0.1:9", "--config-dir", tmp_path)
    assert result.returncode == 2
    assert "scorer.yaml: procesingGuarantees: unknown FunctionConfig key" in result.stderr


class StatusHandler(BaseHTTPRequestHandler):
    """An admin API where the scorer runs with a long error line and no other function is deployed."""

    def do_GET(self) -> None:
        if self.path.endswith("/scorer/status"):
            status = {
                "running": True,
                "numReceived": 7,
                "numSuccessfullyProcessed": 6,
                "numUserExceptions": 1,
                "averageLatency": 1.25,
                "workerId": "c-standalone-fw-127.0.0.1-6760",
                "error": "ValueError: " + "a long reason " * 10,
            }
            answer = {"numInstances": 1, "numRunning": 1, "instances": [{"instanceId": 0, "status": status}]}
            code, body = 200, json.dumps(answer).encode()
        else:
            code, body = 404, b'{"reason": "Function does not exist"}'
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_status_prints_one_line_per_instance_however_wide():
    server = ThreadingHTTPServer(("127.0.0.1", 0), StatusHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result = streamloop("status", "--admin-url", url, "--config-dir", CONFIG_DIR)
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 1  # not every function runs
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
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
    ]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert len(lines) == 5 and set(rows) == {"features", "joiner", "learner", "scorer"}, lines
    worker = "c-standalone-fw-127.0.0.1-6760"  # where the instance runs
    assert rows["scorer"][:9] == ["scorer", "0", worker, "yes", "7", "6", "1", "0", "1.25"]
    assert rows["scorer"][9:12] == ["ValueError:", "a", "long"] and rows["joiner"][2:] == [
        "-",
        "not",
        "deployed",
    ]
    assert max(map(len, lines)) > 100  # wider than a terminal, still one line per row
