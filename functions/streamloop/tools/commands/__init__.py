"""The ``streamloop`` subcommands, one module each: ``register(subparsers)`` adds its parser.

Every subcommand follows one style, like ``pulsar-admin``: ``streamloop <command> [options]``, long options
with dashes, ``--service-url``/``--admin-url``/``--namespace`` for a cluster, and ``--help`` ending in real
examples (the handler module's docstring is the description).
"""

from __future__ import annotations

import argparse
from typing import Any

SERVICE_URL = "pulsar://127.0.0.1:6650"
ADMIN_URL = "http://127.0.0.1:8080"


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


def add_namespace(parser: argparse.ArgumentParser) -> None:
    """The ``--namespace tenant/ns`` option every cluster command shares."""
    parser.add_argument(
        "--namespace",
        default="public/default",
        help="tenant/namespace of the loop's topics and functions (default: public/default)",
    )
