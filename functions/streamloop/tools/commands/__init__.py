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

from streamloop.tools.admin import Admin
from streamloop.tools.connection import ADMIN_URL, Connection, add_options


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


def add_admin(parser: argparse.ArgumentParser) -> None:
    """``--admin-url`` and the credential and TLS options of the commands that use the admin REST API."""
    parser.add_argument(
        "--admin-url",
        help=f"the admin REST API (default: webServiceUrl of the client.conf, else {ADMIN_URL})",
    )
    add_options(parser)


def admin_of(args: argparse.Namespace) -> Admin:
    """The admin client of a command's options; on a secured cluster, says on stderr how it connects
    (the auth plugin, the token file and the trusted CAs, never a secret)."""
    connection = Connection.from_args(args)
    admin = connection.admin()
    summary = connection.summary(connection.admin_url)
    if summary:
        print(f"streamloop {args.command}: connecting to {summary}", file=sys.stderr)
    return admin


def add_namespace(parser: argparse.ArgumentParser) -> None:
    """The ``--namespace tenant/ns`` option every cluster command shares."""
    parser.add_argument(
        "--namespace",
        default="public/default",
        help="tenant/namespace of the loop's topics and functions (default: public/default)",
    )
