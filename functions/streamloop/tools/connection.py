"""How the tools reach a cluster: URLs, credentials and TLS, the way Pulsar's own tools take them.

Every cluster command has the options of :func:`add_options`; :meth:`Connection.from_args` resolves them
(an explicit option, else the ``client.conf`` of ``--client-conf`` or ``$PULSAR_CLIENT_CONF``, else the
default) into one frozen :class:`Connection`, which builds the admin REST client (:meth:`Connection.admin`)
and the binary-protocol client (:meth:`Connection.pulsar_client`, :meth:`Connection.connected`).

``--auth-plugin``/``--auth-params`` have Pulsar's names and semantics (``authPlugin``/``authParams`` of
``client.conf``); ``--token-file PATH`` is the token plugin with ``file://PATH``, so no token is ever needed
on a command line. A token file is read again at each admin call and at each broker client's creation
(once per command; ``streamloop run`` reads it at start): a rotated token is picked up by the next
command. Secrets never show: the params are a ``SecretStr`` in every ``repr``, ``str`` and message.

>>> connection = Connection(auth_plugin=TOKEN_PLUGIN, auth_params=SecretStr("token:s3cr3t"))
>>> "s3cr3t" in repr(connection), connection.token()()
(False, 's3cr3t')
>>> Connection(admin_url="https://pulsar:8443", tls_trust_certs="/ca.pem").summary("https://pulsar:8443")
'https://pulsar:8443 anonymously, trusting /ca.pem, hostname verification on'
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from pydantic import SecretStr

from streamloop.tools import properties
from streamloop.tools.admin import Admin

ADMIN_URL = "http://127.0.0.1:8080"
SERVICE_URL = "pulsar://127.0.0.1:6650"
CLIENT_CONF_ENV = "PULSAR_CLIENT_CONF"
FUNCTIONS_URL_ENV = "STREAMLOOP_FUNCTIONS_URL"
TOKEN_PLUGIN = "org.apache.pulsar.client.impl.auth.AuthenticationToken"
TLS_PLUGIN = "org.apache.pulsar.client.impl.auth.AuthenticationTls"
# The Java class names and the C++ client's short names of the two plugins handled here.
TOKEN_PLUGINS = (TOKEN_PLUGIN, "token")
TLS_PLUGINS = (TLS_PLUGIN, "tls")
# Broker calls (lookup, create producer/reader, close) and TCP connections fail after this, never hang.
OPERATION_TIMEOUT_S = 30
CONNECTION_TIMEOUT_MS = 10_000
TRUST_HINT = "pass --tls-trust-certs (or tlsTrustCertsFilePath in client.conf)"
# client.conf key → Connection field.
CLIENT_CONF_KEYS = {
    "webServiceUrl": "admin_url",
    "brokerServiceUrl": "service_url",
    "authPlugin": "auth_plugin",
    "authParams": "auth_params",
    "tlsTrustCertsFilePath": "tls_trust_certs",
    "tlsAllowInsecureConnection": "tls_allow_insecure",
    "tlsEnableHostnameVerification": "tls_hostname_verification",
}


class BrokerError(RuntimeError):
    """A binary-protocol call failed: one line naming the broker and why (never a secret)."""


@dataclass(frozen=True)
class TokenSource:
    """A token, given as such or as a file read at each call (so a rotated token is picked up)."""

    value: SecretStr | None = None
    path: Path | None = None

    def __call__(self) -> str:
        if self.path is None:
            return self.value.get_secret_value() if self.value is not None else ""
        try:
            return self.path.read_text().strip()
        except OSError as error:
            raise OSError(f"cannot read the token file {self.path}: {error.strerror}") from None


@dataclass(frozen=True)
class Connection:
    """Where a cluster is and how to authenticate to it and trust it."""

    admin_url: str = ADMIN_URL
    service_url: str = SERVICE_URL
    auth_plugin: str | None = None
    auth_params: SecretStr | None = None
    tls_trust_certs: str | None = None
    tls_allow_insecure: bool = False
    tls_hostname_verification: bool = True
    client_conf: str | None = None
    """The client.conf the settings were read from, if any (for messages)."""
    functions_url: str | None = None
    """The function workers' REST API when they run apart from the brokers (``None``: ``admin_url``)."""

    @classmethod
    def from_args(cls, args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> Connection:
        """The options of :func:`add_options` (and ``--admin-url``/``--functions-url``/``--service-url``
        where the command has them) over the ``client.conf`` they name, over the defaults
        (``--functions-url`` over ``$STREAMLOOP_FUNCTIONS_URL``: client.conf has no such key)."""
        conf_path = args.client_conf or environ.get(CLIENT_CONF_ENV) or None
        settings: dict[str, Any] = read_client_conf(conf_path) if conf_path else {}
        if args.token_file and (args.auth_plugin or args.auth_params):
            raise ValueError(
                "--token-file is the token plugin with its params: drop --auth-plugin/--auth-params"
            )
        explicit = {
            "admin_url": getattr(args, "admin_url", None),
            "service_url": getattr(args, "service_url", None),
            "functions_url": getattr(args, "functions_url", None) or environ.get(FUNCTIONS_URL_ENV) or None,
            "tls_trust_certs": args.tls_trust_certs,
            "tls_allow_insecure": args.tls_allow_insecure,
            "tls_hostname_verification": args.tls_hostname_verification,
            "auth_params": SecretStr(args.auth_params) if args.auth_params else None,
        }
        settings.update({key: value for key, value in explicit.items() if value is not None})
        if args.token_file:
            token_file = Path(args.token_file).expanduser().resolve()
            settings.update(auth_plugin=TOKEN_PLUGIN, auth_params=SecretStr(f"file://{token_file}"))
        elif args.auth_plugin:  # a plugin and its params go together: none of the client.conf's params
            settings.update(auth_plugin=args.auth_plugin, auth_params=explicit["auth_params"])
        return cls(**settings, client_conf=str(conf_path) if conf_path else None)

    # -- the admin REST API ----------------------------------------------------------------------------
    def admin(self, timeout: float = 120.0) -> Admin:
        """The admin REST client at ``admin_url`` (functions at ``functions_url``) with this authentication
        and TLS."""
        if self.auth_plugin and self.auth_plugin not in TOKEN_PLUGINS + TLS_PLUGINS:
            raise ValueError(
                f"the admin REST API client supports {TOKEN_PLUGIN} and {TLS_PLUGIN}, not {self.auth_plugin}"
            )
        token = self.token() if self.auth_plugin in TOKEN_PLUGINS else None
        urls = [self.admin_url, self.functions_url or self.admin_url]
        context = self.ssl_context() if any("https://" in url for url in urls) else None
        return Admin(
            self.admin_url,
            timeout=timeout,
            token=token,
            ssl_context=context,
            functions_url=self.functions_url,
        )

    def ssl_context(self) -> ssl.SSLContext:
        """The trust certs (else the system's), hostname verification, and the client certificate of the
        TLS plugin; ``tls_allow_insecure`` accepts any certificate."""
        try:
            context = ssl.create_default_context(cafile=self.tls_trust_certs)
            if self.auth_plugin in TLS_PLUGINS:
                cert, key = self.tls_client_cert()
                context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as error:  # the message names the files, never a secret
            raise ValueError(f"cannot load the TLS files ({self._files()}): {error}") from None
        context.check_hostname = self.tls_hostname_verification and not self.tls_allow_insecure
        if self.tls_allow_insecure:
            context.verify_mode = ssl.CERT_NONE
        return context

    # -- the binary protocol ---------------------------------------------------------------------------
    def pulsar_client(self, **options: Any) -> Any:
        """``pulsar.Client(service_url)`` with this authentication and TLS, and bounded timeouts;
        ``options`` are more (or other) ``pulsar.Client`` arguments."""
        import pulsar

        settings: dict[str, Any] = {
            "authentication": self.authentication(),
            "tls_trust_certs_file_path": self.tls_trust_certs,
            "tls_allow_insecure_connection": self.tls_allow_insecure,
            "tls_validate_hostname": self.tls_hostname_verification,
            "operation_timeout_seconds": OPERATION_TIMEOUT_S,
            "connection_timeout_ms": CONNECTION_TIMEOUT_MS,
        }
        return pulsar.Client(self.service_url, **{**settings, **options})

    @contextlib.contextmanager
    def connected(self, **options: Any) -> Iterator[Any]:
        """A :meth:`pulsar_client` for the ``with`` block, closed at its end; a Pulsar error inside
        becomes a one-line :class:`BrokerError` naming the broker."""
        import pulsar

        try:
            client = self.pulsar_client(**options)
            try:
                yield client
            finally:
                client.close()
        except pulsar.PulsarException as error:
            timeout = options.get("operation_timeout_seconds", OPERATION_TIMEOUT_S)
            raise BrokerError(self.explain(error, timeout)) from None

    def authentication(self) -> Any:
        """The ``pulsar.Authentication`` of the plugin, or ``None``."""
        import pulsar

        if not self.auth_plugin:
            return None
        if self.auth_plugin in TOKEN_PLUGINS:
            # The token itself, read now (an unreadable file fails here, with its name). Not a callable:
            # the C++ client calls a token supplier on its own threads, and one still referenced while the
            # interpreter exits aborted the process ("terminate called without an active exception").
            return pulsar.AuthenticationToken(self.token()())
        if self.auth_plugin in TLS_PLUGINS:
            return pulsar.AuthenticationTLS(*self.tls_client_cert())
        params = self.auth_params.get_secret_value() if self.auth_params else ""
        return pulsar.Authentication(self.auth_plugin, params)

    def explain(self, error: Exception, timeout: float = OPERATION_TIMEOUT_S) -> str:
        """One line for a ``pulsar`` exception: what the broker at ``service_url`` refused, or why it did
        not answer (within the client's operation ``timeout``)."""
        import pulsar

        url, tls = self.service_url, urlparse(self.service_url).scheme == "pulsar+ssl"
        hint = f"; if its certificate is not trusted, {TRUST_HINT}" if tls else ""
        if isinstance(error, pulsar.AuthenticationError):
            return f"{url} refused authentication (wrong or expired token, or none given): {error}"
        if isinstance(error, pulsar.AuthorizationError):
            return (
                f"{url}: not authorized ({error}): the role needs produce/consume permission on the "
                "namespace (pulsar-admin namespaces grant-permission)"
            )
        if isinstance(error, pulsar.ConnectError):
            return f"cannot connect to {url} ({error}){hint}"
        if isinstance(error, pulsar.Timeout):
            return f"no answer from {url} within {timeout:g} s ({error}){hint}"
        return f"{url}: {error}"

    # -- the plugins' params ---------------------------------------------------------------------------
    def token(self) -> TokenSource:
        """The token plugin's params: ``token:<jwt>``, ``file:///path`` or the token itself (as Pulsar)."""
        params = self.auth_params.get_secret_value() if self.auth_params else ""
        if not params:
            raise ValueError(f"{TOKEN_PLUGIN} needs --auth-params or --token-file")
        if params.startswith("file:"):
            parsed = urlparse(params)
            return TokenSource(path=Path(unquote(parsed.netloc + parsed.path)))
        return TokenSource(value=SecretStr(params.removeprefix("token:")))

    def tls_client_cert(self) -> tuple[str, str]:
        """The TLS plugin's ``tlsCertFile`` and ``tlsKeyFile`` (``key:value,...`` or JSON params)."""
        params = _param_map(self.auth_params.get_secret_value() if self.auth_params else "")
        if "tlsCertFile" not in params or "tlsKeyFile" not in params:
            raise ValueError(f"{TLS_PLUGIN} needs --auth-params tlsCertFile:<path>,tlsKeyFile:<path>")
        return params["tlsCertFile"], params["tlsKeyFile"]

    # -- what a person is told -------------------------------------------------------------------------
    def summary(self, url: str) -> str | None:
        """How ``url`` is reached (and the functions API, when it is elsewhere), without the secret;
        ``None`` when anonymously over plain text, functions included."""
        functions = self.functions_url if self.functions_url not in (None, url) else None
        tls = any(urlparse(u).scheme in ("https", "pulsar+ssl") for u in (url, functions or url))
        if not (tls or self.auth_plugin or functions):
            return None
        parts = [f"{url} {self._identity()}"]
        if functions:
            parts.append(f"functions at {functions}")
        if tls:
            parts.append(f"trusting {self.tls_trust_certs or 'the system CAs'}")
            parts.append(
                "any certificate (tls allow insecure)"
                if self.tls_allow_insecure
                else f"hostname verification {'on' if self.tls_hostname_verification else 'off'}"
            )
        if self.client_conf:
            parts.append(f"settings from {self.client_conf}")
        return ", ".join(parts)

    def _identity(self) -> str:
        if not self.auth_plugin:
            return "anonymously"
        if self.auth_plugin in TOKEN_PLUGINS and self.auth_params:
            path = self.token().path
            return f"with {self.auth_plugin} ({f'token file {path}' if path else 'token given'})"
        return f"with {self.auth_plugin}"

    def _files(self) -> str:
        files = [f"trust certs {self.tls_trust_certs}"] if self.tls_trust_certs else []
        if self.auth_plugin in TLS_PLUGINS:
            files.append("client cert {} and key {}".format(*self.tls_client_cert()))
        return ", ".join(files) or "the system CAs"


def read_client_conf(path: str | Path) -> dict[str, Any]:
    """The :class:`Connection` fields a ``client.conf`` sets (empty values are unset, as in Pulsar).

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
    ...     _ = f.write("webServiceUrl=https://pulsar:8443/\\ntlsEnableHostnameVerification=false\\nauthParams=\\n")
    ...     f.flush()
    ...     read_client_conf(f.name)
    {'admin_url': 'https://pulsar:8443/', 'tls_hostname_verification': False}
    """
    try:
        pairs = properties.load(path)
    except OSError as error:
        raise OSError(f"cannot read the client.conf {path}: {error.strerror}") from None
    settings: dict[str, Any] = {}
    booleans = {f.name for f in fields(Connection) if f.type == "bool"}
    for key, name in CLIENT_CONF_KEYS.items():
        value = pairs.get(key, "").strip()
        if not value:
            continue
        if name in booleans:
            settings[name] = value.lower() == "true"  # Java's Boolean.parseBoolean
        elif name == "auth_params":
            settings[name] = SecretStr(value)
        else:
            settings[name] = value
    return settings


def add_options(parser: argparse.ArgumentParser) -> None:
    """The credential and TLS options of every cluster command (the URLs are each command's own)."""
    group = parser.add_argument_group(
        "cluster connection",
        "credentials and TLS, like Pulsar's client.conf; an option wins over the client.conf",
    )
    group.add_argument(
        "--client-conf",
        metavar="PATH",
        help=f"a Pulsar client.conf (webServiceUrl, brokerServiceUrl, authPlugin, authParams, tls...; "
        f"default: ${CLIENT_CONF_ENV})",
    )
    group.add_argument(
        "--auth-plugin",
        metavar="CLASS",
        help=f"authentication plugin, e.g. {TOKEN_PLUGIN} or {TLS_PLUGIN}",
    )
    group.add_argument(
        "--auth-params",
        metavar="PARAMS",
        help="the plugin's params, e.g. file:///path/to/token, or tlsCertFile:PATH,tlsKeyFile:PATH",
    )
    group.add_argument(
        "--token-file", metavar="PATH", help="token authentication with the token in this file"
    )
    group.add_argument(
        "--tls-trust-certs", metavar="PATH", help="CA certificates (PEM) to trust (default: the system's)"
    )
    group.add_argument(
        "--tls-allow-insecure",
        action=argparse.BooleanOptionalAction,
        help="accept any server certificate (default: no)",
    )
    group.add_argument(
        "--tls-hostname-verification",
        action=argparse.BooleanOptionalAction,
        help="check that the server certificate names the host (default: yes)",
    )


def _param_map(params: str) -> dict[str, str]:
    """Pulsar's plugin params: a JSON object, or ``key:value,key:value``.

    >>> _param_map("tlsCertFile:/c.pem,tlsKeyFile:/k.pem")
    {'tlsCertFile': '/c.pem', 'tlsKeyFile': '/k.pem'}
    >>> _param_map('{"tlsCertFile": "/c.pem", "tlsKeyFile": "/k.pem"}')["tlsKeyFile"]
    '/k.pem'
    """
    if params.lstrip().startswith("{"):
        return {str(k): str(v) for k, v in json.loads(params).items()}
    pairs = (item.split(":", 1) for item in params.split(",") if ":" in item)
    return {key.strip(): value.strip() for key, value in pairs}
