"""The ``streamloop`` subcommands, one module each: ``register(subparsers)`` adds its parser.

Every subcommand follows one style, like ``pulsar-admin``: ``streamloop <command> [options]``, long options
with dashes, ``--service-url``/``--admin-url``/``--namespace`` for a cluster, and ``--help`` ending in real
examples (the first paragraph of the handler module's docstring is the help text).
"""

from __future__ import annotations

import argparse
from typing import Any

SERVICE_URL = "pulsar://127.0.0.1:6650"
ADMIN_URL = "http://127.0.0.1:8080"


def add_command(sub: Any, name: str, doc: str) -> argparse.ArgumentParser:
    """A subparser whose description is ``doc`` up to ``Examples::`` and whose epilog is the examples."""
    text, _, examples = doc.partition("Examples::")
    summary = text.strip().split("\n\n", 1)[0].replace("\n", " ")
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
