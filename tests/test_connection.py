"""How the cluster commands take credentials and TLS (``streamloop.tools.connection``): client.conf parsing
and precedence, the token-file shortcut, what the binary client is given, and that no secret shows."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pulsar
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from streamloop.tools import properties
from streamloop.tools.connection import (
    TLS_PLUGIN,
    TOKEN_PLUGIN,
    BrokerError,
    Connection,
    add_options,
)

SECRET = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.s3cr3t-signature"


def parse_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--admin-url")
    parser.add_argument("--functions-url")
    parser.add_argument("--service-url")
    add_options(parser)
    return parser.parse_args(argv)


def connection(*argv: str, environ: dict[str, str] | None = None) -> Connection:
    return Connection.from_args(parse_args(*argv), environ=environ or {})


# -- the properties format ---------------------------------------------------------------------------
def test_properties_as_java_reads_them():
    text = (
        "# comment\n"
        "  ! another comment \\\n"
        "webServiceUrl = https://pulsar:8443/\n"
        "authPlugin:org.apache.pulsar.client.impl.auth.AuthenticationToken\n"
        "authParams      file:///etc/pulsar/token\r\n"
        "tlsTrustCertsFilePath=/etc/pulsar/\\\n"
        "     ca.pem\n"
        "key\\=with\\:separators = a\\tb\\u00e9\\\\\n"
        "empty=\n"
        "webServiceUrl=https://later-wins:8443/\n"
    )
    assert properties.parse(text) == {
        "webServiceUrl": "https://later-wins:8443/",
        "authPlugin": "org.apache.pulsar.client.impl.auth.AuthenticationToken",
        "authParams": "file:///etc/pulsar/token",
        "tlsTrustCertsFilePath": "/etc/pulsar/ca.pem",
        "key=with:separators": "a\tbé\\",
        "empty": "",
    }


def _escape(text: str, key: bool) -> str:
    """What java.util.Properties.store writes for a key or a value."""
    out = []
    for i, char in enumerate(text):
        if char in "\\=:#!" or (char == " " and (key or i == 0)):
            out.append("\\" + char)
        elif char in "\t\n\r\f":
            out.append({"\t": "\\t", "\n": "\\n", "\r": "\\r", "\f": "\\f"}[char])
        else:
            out.append(char)
    return "".join(out)


@given(st.dictionaries(st.text(min_size=1, max_size=12), st.text(max_size=20), max_size=6))
def test_what_java_stores_reads_back(pairs: dict[str, str]):
    text = "".join(f"{_escape(k, True)}={_escape(v, False)}\n" for k, v in pairs.items())
    assert properties.parse(text) == pairs


def test_a_malformed_unicode_escape_names_the_key_not_the_value(tmp_path: Path):
    conf = tmp_path / "client.conf"
    conf.write_text("authParams=token:s3cr\\u00zzet\n")
    with pytest.raises(ValueError) as failed:
        properties.load(conf)
    assert str(failed.value) == f"{conf}: authParams: malformed \\uXXXX escape"


# -- precedence ----------------------------------------------------------------------------------------
CLIENT_CONF = """\
webServiceUrl=https://pulsar.example.com:8443/
brokerServiceUrl=pulsar+ssl://pulsar.example.com:6651/
authPlugin=org.apache.pulsar.client.impl.auth.AuthenticationToken
authParams=token:{secret}
tlsTrustCertsFilePath=/etc/pulsar/ca.pem
tlsAllowInsecureConnection=false
tlsEnableHostnameVerification=false
"""


@pytest.fixture
def client_conf(tmp_path: Path) -> Path:
    path = tmp_path / "client.conf"
    path.write_text(CLIENT_CONF.format(secret=SECRET))
    return path


def test_defaults_are_anonymous_plain_text_on_localhost_with_hostname_verification():
    assert connection() == Connection(
        admin_url="http://127.0.0.1:8080",
        service_url="pulsar://127.0.0.1:6650",
        auth_plugin=None,
        auth_params=None,
        tls_trust_certs=None,
        tls_allow_insecure=False,
        tls_hostname_verification=True,
    )


def test_a_client_conf_supplies_urls_credentials_and_tls(client_conf: Path):
    for settings in (
        connection("--client-conf", str(client_conf)),
        connection(environ={"PULSAR_CLIENT_CONF": str(client_conf)}),
    ):
        assert settings.admin_url == "https://pulsar.example.com:8443/"
        assert settings.service_url == "pulsar+ssl://pulsar.example.com:6651/"
        assert settings.auth_plugin == TOKEN_PLUGIN
        assert settings.token()() == SECRET
        assert settings.tls_trust_certs == "/etc/pulsar/ca.pem"
        assert settings.tls_hostname_verification is False
        assert settings.client_conf == str(client_conf)


def test_an_option_wins_over_the_client_conf(client_conf: Path, tmp_path: Path):
    token = tmp_path / "token"
    token.write_text("from-the-file\n")
    settings = connection(
        "--client-conf",
        str(client_conf),
        "--admin-url",
        "https://other:8443",
        "--token-file",
        str(token),
        "--tls-trust-certs",
        "/mine.pem",
        "--tls-hostname-verification",
        environ={"PULSAR_CLIENT_CONF": "/no/such/file"},  # --client-conf wins over the variable
    )
    assert settings.admin_url == "https://other:8443"
    assert settings.service_url == "pulsar+ssl://pulsar.example.com:6651/"  # not given: the file's
    assert settings.auth_params is not None
    assert settings.auth_params.get_secret_value() == f"file://{token}"
    assert settings.token()() == "from-the-file"
    assert settings.tls_trust_certs == "/mine.pem"
    assert settings.tls_hostname_verification is True


def test_an_auth_plugin_option_takes_none_of_the_client_confs_params(client_conf: Path):
    settings = connection("--client-conf", str(client_conf), "--auth-plugin", "org.example.Custom")
    assert (settings.auth_plugin, settings.auth_params) == ("org.example.Custom", None)


def test_a_missing_client_conf_names_the_file():
    with pytest.raises(OSError, match=r"cannot read the client\.conf /no/such/client\.conf"):
        connection(environ={"PULSAR_CLIENT_CONF": "/no/such/client.conf"})


def test_token_file_and_auth_params_are_one_or_the_other(tmp_path: Path):
    with pytest.raises(ValueError, match="--token-file"):
        connection("--token-file", str(tmp_path / "t"), "--auth-params", "token:x")


# -- the token shortcut and rotation ---------------------------------------------------------------------
def test_a_token_file_is_read_at_each_use(tmp_path: Path):
    token = tmp_path / "token"
    token.write_text("first\n")
    source = connection("--token-file", str(token)).token()
    assert source() == "first"
    token.write_text("rotated")
    assert source() == "rotated"
    token.unlink()
    with pytest.raises(OSError, match=f"cannot read the token file {token}"):
        source()


@pytest.mark.parametrize(("params", "expected"), [(f"token:{SECRET}", SECRET), (SECRET, SECRET)])
def test_token_params_as_pulsar_reads_them(params: str, expected: str):
    settings = connection("--auth-plugin", TOKEN_PLUGIN, "--auth-params", params)
    assert settings.token()() == expected


# -- what the binary client gets -------------------------------------------------------------------------
class RecordingClient:
    def __init__(self, service_url: str, **kwargs: Any) -> None:
        self.service_url, self.kwargs = service_url, kwargs
        RecordingClient.last = self

    def close(self) -> None:
        pass


def test_the_pulsar_client_gets_authentication_tls_and_bounded_timeouts(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(pulsar, "Client", RecordingClient)
    token = tmp_path / "token"
    token.write_text(SECRET)
    settings = connection(
        "--service-url",
        "pulsar+ssl://127.0.0.1:6651",
        "--token-file",
        str(token),
        "--tls-trust-certs",
        "/ca.pem",
        "--no-tls-hostname-verification",
    )
    client = settings.pulsar_client(operation_timeout_seconds=5)
    assert client.service_url == "pulsar+ssl://127.0.0.1:6651"
    assert isinstance(client.kwargs.pop("authentication"), pulsar.AuthenticationToken)
    assert client.kwargs == {
        "tls_trust_certs_file_path": "/ca.pem",
        "tls_allow_insecure_connection": False,
        "tls_validate_hostname": False,
        "operation_timeout_seconds": 5,
        "connection_timeout_ms": 10_000,
    }
    tls = connection("--auth-plugin", TLS_PLUGIN, "--auth-params", "tlsCertFile:/c.pem,tlsKeyFile:/k.pem")
    assert tls.tls_client_cert() == ("/c.pem", "/k.pem")
    other = connection("--auth-plugin", "org.apache.pulsar.client.impl.auth.oauth2.AuthenticationOAuth2")
    with pytest.raises(ValueError, match=r"supports .* not org\.apache\.pulsar\.client\.impl\.auth\.oauth2"):
        other.admin()


def test_an_unreadable_token_file_fails_before_connecting(tmp_path: Path):
    with pytest.raises(OSError, match="cannot read the token file"):
        connection("--token-file", str(tmp_path / "missing")).pulsar_client()


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (pulsar.AuthenticationError, "pulsar+ssl://b:6651 refused authentication (wrong or expired token"),
        (pulsar.AuthorizationError, "pulsar+ssl://b:6651: not authorized"),
        (pulsar.ConnectError, "cannot connect to pulsar+ssl://b:6651"),
        (pulsar.Timeout, "no answer from pulsar+ssl://b:6651 within 30 s"),
    ],
)
def test_broker_errors_are_one_line_naming_the_broker(error: type, says: str, monkeypatch):
    monkeypatch.setattr(pulsar, "Client", RecordingClient)
    settings = connection("--service-url", "pulsar+ssl://b:6651", "--auth-params", f"token:{SECRET}")
    with pytest.raises(BrokerError) as failed, settings.connected():
        raise error("Pulsar error: refused")
    assert str(failed.value).startswith(says) and "\n" not in str(failed.value)
    assert SECRET not in str(failed.value)


def test_an_absent_broker_fails_within_the_operation_timeout():
    settings = connection("--service-url", "pulsar://127.0.0.1:9")
    quiet = pulsar.ConsoleLogger(pulsar.LoggerLevel.Error)
    with (
        pytest.raises(BrokerError, match=r"pulsar://127\.0\.0\.1:9"),
        settings.connected(operation_timeout_seconds=1, logger=quiet) as client,
    ):
        client.create_producer("persistent://public/default/nowhere")


# -- no secret shows ---------------------------------------------------------------------------------------
def test_no_secret_in_repr_str_or_summary(client_conf: Path):
    settings = connection("--client-conf", str(client_conf))
    for text in (repr(settings), str(settings), settings.summary(settings.admin_url), repr(settings.token())):
        assert text is not None and SECRET not in text
    assert settings.summary(settings.admin_url) == (
        f"https://pulsar.example.com:8443/ with {TOKEN_PLUGIN} (token given), trusting /etc/pulsar/ca.pem, "
        f"hostname verification off, settings from {client_conf}"
    )
    assert Connection(auth_params=SecretStr(SECRET)).summary("http://h:8080") is None  # no plugin: anonymous


# -- brokers and function workers apart -------------------------------------------------------------------
BROKERS = "http://127.0.0.1:8090,127.0.0.1:8091"
WORKERS = "http://127.0.0.1:6760,127.0.0.1:6761"


def test_the_functions_url_is_an_option_or_the_variable_and_reaches_the_admin_client(client_conf: Path):
    settings = connection("--admin-url", BROKERS, "--functions-url", WORKERS)
    admin = settings.admin()
    assert (admin.url, admin.functions_url) == (BROKERS, WORKERS)
    assert connection(environ={"STREAMLOOP_FUNCTIONS_URL": WORKERS}).functions_url == WORKERS
    chosen = connection("--functions-url", "http://w:6750", environ={"STREAMLOOP_FUNCTIONS_URL": WORKERS})
    assert chosen.functions_url == "http://w:6750"
    assert connection("--client-conf", str(client_conf)).functions_url is None  # the brokers': admin_url
    assert settings.summary(BROKERS) == f"{BROKERS} anonymously, functions at {WORKERS}"
    assert connection("--admin-url", BROKERS, "--functions-url", BROKERS).summary(BROKERS) is None


def test_a_multi_host_service_url_goes_to_the_client_as_given(monkeypatch):
    monkeypatch.setattr(pulsar, "Client", RecordingClient)
    hosts = "pulsar://127.0.0.1:6660,127.0.0.1:6661"
    assert connection("--service-url", hosts).pulsar_client().service_url == hosts
