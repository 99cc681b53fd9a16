"""The cluster commands against a secured admin API: a local HTTPS server with certificates made by
``openssl`` (a CA and its server certificates; a second CA nobody trusts), answering 401 without the
right bearer token, and 401 with a reason for a role without permission (as Pulsar does). Each refusal
is one line, and no command prints the token."""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cli_run import CONFIG_DIR, streamloop
from pydantic import SecretStr

from streamloop.tools.admin import AdminError
from streamloop.tools.connection import TOKEN_PLUGIN, Connection

TOKEN = "eyJhbGciOiJIUzI1NiJ9.c3VwZXJ1c2Vy.good-signature"
READ_ONLY = "eyJhbGciOiJIUzI1NiJ9.cmVhZG9ubHk.readonly-signature"
REASON = "Client with role readonly is not authorized to get status of function public/default/scorer"
RUNNING = {"numInstances": 1, "numRunning": 1, "instances": [{"instanceId": 0, "status": {"running": True}}]}


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)


def make_ca(folder: Path, name: str) -> tuple[Path, Path]:
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-addext", "subjectKeyIdentifier=hash",
    )  # fmt: skip
    return cert, key


def make_server_cert(folder: Path, name: str, ca: tuple[Path, Path], hosts: str) -> tuple[Path, Path]:
    cert, key, request, extensions = (folder / f"{name}{s}" for s in (".pem", ".key", ".csr", ".ext"))
    extensions.write_text(
        f"subjectAltName={hosts}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(key), "-out", str(request), "-subj", f"/CN={name}",
    )  # fmt: skip
    openssl(
        "x509", "-req", "-in", str(request), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
        "-CAcreateserial", "-days", "2", "-extfile", str(extensions), "-out", str(cert),
    )  # fmt: skip
    return cert, key


@dataclass
class Certificates:
    ca: Path
    other_ca: Path
    server: tuple[Path, Path]  # for 127.0.0.1 and localhost
    elsewhere: tuple[Path, Path]  # for pulsar.example.com only


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    folder = tmp_path_factory.mktemp("tls")
    ca = make_ca(folder, "test-ca")
    other_ca = make_ca(folder, "untrusted-ca")
    return Certificates(
        ca=ca[0],
        other_ca=other_ca[0],
        server=make_server_cert(folder, "server", ca, "IP:127.0.0.1,DNS:localhost"),
        elsewhere=make_server_cert(folder, "elsewhere", ca, "DNS:pulsar.example.com"),
    )


class SecuredAdmin(BaseHTTPRequestHandler):
    """The admin API of a cluster with token authentication: every function runs, for the superuser."""

    seen: list[str | None]

    def answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        authorization = self.headers.get("Authorization")
        self.seen.append(authorization)
        if authorization == f"Bearer {TOKEN}":
            code, body = 200, json.dumps(RUNNING if self.path.endswith("/status") else {}).encode()
        elif authorization == f"Bearer {READ_ONLY}":
            code, body = 401, json.dumps({"reason": REASON}).encode()  # Pulsar 4.0.8: 401, not 403
        else:
            code, body = 401, b"<html><body>Authentication required</body></html>"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_DELETE = answer

    def log_message(self, *args: object) -> None:
        pass


def serve(cert: tuple[Path, Path]) -> Iterator[tuple[str, list[str | None]]]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*map(str, cert))
    seen: list[str | None] = []
    handler = type("Handler", (SecuredAdmin,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def secured(certificates: Certificates) -> Iterator[tuple[str, list[str | None]]]:
    yield from serve(certificates.server)


@pytest.fixture
def elsewhere(certificates: Certificates) -> Iterator[tuple[str, list[str | None]]]:
    yield from serve(certificates.elsewhere)


def token_file(folder: Path, token: str) -> Path:
    path = folder / "token"
    path.write_text(token + "\n")
    return path


def assert_one_line_without_secrets(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result
    assert TOKEN not in result.stdout + result.stderr and READ_ONLY not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_status_with_the_token_and_the_ca_sends_the_bearer_token(secured, certificates, tmp_path):
    url, seen = secured
    result = streamloop(
        "status", "--admin-url", url, "--config-dir", CONFIG_DIR,
        "--token-file", token_file(tmp_path, TOKEN), "--tls-trust-certs", certificates.ca,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert seen == [f"Bearer {TOKEN}"] * 4
    assert TOKEN not in result.stdout + result.stderr
    assert f"connected to {url} with {TOKEN_PLUGIN} (token file {tmp_path / 'token'})" in result.stderr
    assert f"trusting {certificates.ca}, hostname verification on" in result.stderr


def test_status_from_a_client_conf(secured, certificates, tmp_path, monkeypatch):
    url, seen = secured
    conf = tmp_path / "client.conf"
    conf.write_text(
        f"webServiceUrl={url}/\nauthPlugin={TOKEN_PLUGIN}\nauthParams=token:{TOKEN}\n"
        f"tlsTrustCertsFilePath={certificates.ca}\n"
    )
    monkeypatch.setenv("PULSAR_CLIENT_CONF", str(conf))
    result = streamloop("status", "--config-dir", CONFIG_DIR)
    assert result.returncode == 0, result.stderr
    assert seen == [f"Bearer {TOKEN}"] * 4 and TOKEN not in result.stdout + result.stderr


def test_a_wrong_token_is_refused_in_one_line(secured, certificates):
    url, _ = secured
    result = streamloop(
        "status", "--admin-url", url, "--config-dir", CONFIG_DIR, "--tls-trust-certs", certificates.ca,
        "--auth-plugin", TOKEN_PLUGIN, "--auth-params", f"token:{TOKEN}-expired",
    )  # fmt: skip
    line = assert_one_line_without_secrets(result)
    assert line.startswith("streamloop status: GET /admin/v3/functions/public/default/")
    assert line.endswith(f"HTTP 401: {url} refused authentication (wrong or expired token, or none given)")


def test_no_token_is_refused_too(secured, certificates):
    url, seen = secured
    result = streamloop(
        "status", "--admin-url", url, "--config-dir", CONFIG_DIR, "--tls-trust-certs", certificates.ca
    )
    assert "HTTP 401" in assert_one_line_without_secrets(result) and seen == [None]


def test_a_missing_permission_is_named_with_the_call(secured, certificates, tmp_path):
    url, _ = secured
    result = streamloop(
        "deploy", "--admin-url", url, "--config-dir", CONFIG_DIR, "--tls-trust-certs", certificates.ca,
        "--token-file", token_file(tmp_path, READ_ONLY),
    )  # fmt: skip
    line = assert_one_line_without_secrets(result)
    assert line.startswith(
        f"streamloop deploy: PUT /admin/v2/namespaces/public/default: HTTP 401: not authorized: {REASON}; "
    ) and line.endswith("then deploy with --no-provision")


def test_an_untrusted_certificate_says_how_to_trust_it(secured, certificates, tmp_path):
    url, seen = secured
    result = streamloop(
        "status", "--admin-url", url, "--config-dir", CONFIG_DIR, "--tls-trust-certs", certificates.other_ca,
        "--token-file", token_file(tmp_path, TOKEN),
    )  # fmt: skip
    line = assert_one_line_without_secrets(result)
    assert line.startswith(f"streamloop status: untrusted certificate at {url}: ")
    assert line.endswith("; pass --tls-trust-certs (or tlsTrustCertsFilePath in client.conf)")
    assert seen == []  # the token never left


def test_a_certificate_for_another_host_is_refused_unless_verification_is_off(elsewhere, certificates):
    url, _ = elsewhere
    settings = Connection(
        admin_url=url,
        auth_plugin=TOKEN_PLUGIN,
        auth_params=SecretStr(f"token:{TOKEN}"),
        tls_trust_certs=str(certificates.ca),
    )
    with pytest.raises(AdminError, match=r"untrusted certificate at .*mismatch"):
        settings.admin(timeout=5).function_status("public/default", "scorer")
    relaxed = Connection(**{**settings.__dict__, "tls_hostname_verification": False})
    assert relaxed.admin(timeout=5).function_status("public/default", "scorer") == RUNNING
    insecure = Connection(**{**settings.__dict__, "tls_trust_certs": None, "tls_allow_insecure": True})
    assert insecure.admin(timeout=5).function_status("public/default", "scorer") == RUNNING


def test_a_rotated_token_file_is_read_at_the_next_call(secured, certificates, tmp_path):
    url, seen = secured
    path = token_file(tmp_path, READ_ONLY)
    settings = Connection(
        admin_url=url,
        auth_plugin=TOKEN_PLUGIN,
        auth_params=SecretStr(f"file://{path}"),
        tls_trust_certs=str(certificates.ca),
    )
    admin = settings.admin(timeout=5)
    with pytest.raises(AdminError, match="HTTP 401: not authorized"):
        admin.function_status("public/default", "scorer")
    token_file(tmp_path, TOKEN)
    assert admin.function_status("public/default", "scorer") == RUNNING
    assert seen == [f"Bearer {READ_ONLY}", f"Bearer {TOKEN}"]
