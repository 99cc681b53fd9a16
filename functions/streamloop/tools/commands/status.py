"""Show every instance of the four functions in one table: the function worker it runs on (its
``workerId``), running, messages received and processed, exceptions, restarts, average latency and the last
error line (from the admin REST API's status).

Exits 0 when every instance of every function runs, 1 otherwise, so scripts can wait on it.

Examples::

    streamloop status
    streamloop status --namespace public/fraud --admin-url http://pulsar.example.com:8080
    streamloop status --functions-url http://127.0.0.1:6760,127.0.0.1:6761   # workers apart from brokers
    streamloop status --admin-url https://pulsar.example.com:8443 --token-file ~/.pulsar/token \\
        --tls-trust-certs ca.pem
    PULSAR_CLIENT_CONF=conf/client.conf streamloop status
"""

from __future__ import annotations

import argparse
from typing import Any

from streamloop.tools.commands import add_admin, add_command, add_namespace, say_how_connected
from streamloop.tools.connection import Connection


def register(sub: Any) -> None:
    parser = add_command(sub, "status", "one table of every instance of the four functions", __doc__)
    add_namespace(parser)
    parser.add_argument("--config-dir", default="pulsar-config", help="the function names come from here")
    add_admin(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from streamloop.tools.deployment import all_running, status_or_none, status_table
    from streamloop.tools.terminal import show
    from streamloop.worker.config import FunctionFile

    connection = Connection.from_args(args)
    admin = connection.admin()
    statuses: list[tuple[str, Any]] = []
    for path in sorted(Path(args.config_dir).glob("*.yaml")):
        name = FunctionFile.load(path).name
        statuses.append((name, status_or_none(admin, args.namespace, name)))
    show(status_table(statuses))
    say_how_connected(args.command, connection)
    return 0 if all_running(statuses) else 1
