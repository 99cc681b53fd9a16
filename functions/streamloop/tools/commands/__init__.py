"""The ``streamloop`` subcommands, one module each: ``register(subparsers)`` adds its parser.

Every subcommand follows one style, like ``pulsar-admin``: ``streamloop <command> [options]``, long options
with dashes, ``--service-url``/``--admin-url``/``--namespace`` for a cluster, with the credential and TLS
options of :func:`streamloop.tools.connection.add_options`, and ``--help`` ending in real examples (the
handler module's docstring is the description).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from streamloop.tools.connection import ADMIN_URL, FUNCTIONS_URL_ENV, Connection, add_options


def add_command(sub: Any, name: str, summary: str, doc: str) -> argparse.ArgumentParser:
    """A subparser listed as ``summary``, described by ``doc`` up to ``Examples::``, then the examples."""
    text, _, examples = doc.replace("``", "`").partition("Examples::")
    return sub.add_parser(
        name,
        help=summary,
        description=text.strip(),
        epilog=("examples:" + examples.rstrip() + "\n") if examples else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_admin(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    """``--admin-url``, ``--functions-url`` and the credential and TLS options of the commands that use the
    admin REST API; ``default`` says what no ``--admin-url`` means, if not the usual."""
    parser.add_argument(
        "--admin-url",
        help="the admin REST API, one host or several (http://b1:8080,b2:8080) "
        f"(default: {default or f'webServiceUrl of the client.conf, else {ADMIN_URL}'})",
    )
    parser.add_argument(
        "--functions-url",
        help=f"the function workers' REST API when they run apart from the brokers, one host or several "
        f"(default: ${FUNCTIONS_URL_ENV}, else --admin-url; client.conf has no key for it)",
    )
    add_options(parser)


def say_how_connected(command: str, connection: Connection) -> None:
    """After a command's admin calls worked: on a secured cluster, how it connected, on stderr (the auth
    plugin, the token file and the trusted CAs, never a secret). A failure stays one line."""
    summary = connection.summary(connection.admin_url)
    if summary:
        print(f"streamloop {command}: connected to {summary}", file=sys.stderr)


def add_namespace(parser: argparse.ArgumentParser) -> None:
    """The ``--namespace tenant/ns`` option every cluster command shares."""
    parser.add_argument(
        "--namespace",
        default="public/default",
        help="tenant/namespace of the loop's topics and functions (default: public/default)",
    )
