"""Make a namespace ready for the loop: the namespace, the loop's topics (``models`` compacted; with
``--partitions N`` the stream topics partitioned, ``models``, ``metrics`` and ``dead-letters`` not), their
retention (the history ``events``, ``labels``, ``examples`` forever by default; ``metrics`` a week), the
namespace's offload threshold, and with ``--grant`` the permissions of the role that deploys and runs the
loop (``produce,consume,functions``). ``streamloop deploy`` does this first unless ``--no-provision``; on a
secured cluster an administrator runs it, and the loop's role deploys with ``--no-provision``.

Examples::

    streamloop provision --namespace public/fraud
    streamloop provision --client-conf admin.conf --namespace public/fraud --grant streamloop
    streamloop provision --namespace public/fraud --history-retention-minutes 43200 --offload-threshold-mb 256
    streamloop provision --admin-url http://127.0.0.1:8090,127.0.0.1:8091 --partitions 4
"""

from __future__ import annotations

import argparse
from typing import Any

from streamloop.tools.commands import add_admin, add_command, add_namespace, say_how_connected
from streamloop.tools.connection import Connection


def register(sub: Any) -> None:
    parser = add_command(
        sub, "provision", "the namespace, topics, retention and offload for the loop", __doc__
    )
    add_admin(parser)
    add_namespace(parser)
    add_policy_options(parser)
    parser.add_argument(
        "--grant", metavar="ROLE", help="give ROLE produce, consume and functions on the namespace"
    )
    parser.set_defaults(handler=run)


def add_policy_options(parser: argparse.ArgumentParser) -> None:
    """The partitioning, retention and offload options of ``provision`` and ``deploy``."""
    from streamloop.tools.provisioning import TopicPolicies

    defaults = TopicPolicies()
    group = parser.add_argument_group("topic policies", "what the broker keeps, and when it offloads")
    group.add_argument(
        "--partitions",
        type=int,
        default=0,
        metavar="N",
        help="create events, labels, features, predictions and examples with N partitions; models, metrics "
        "and dead-letters stay non-partitioned (default: 0, none partitioned)",
    )
    group.add_argument(
        "--history-retention-minutes",
        type=int,
        default=defaults.history_retention_minutes,
        help="keep acked events, labels and examples this long (default: -1, forever)",
    )
    group.add_argument(
        "--history-retention-mb",
        type=int,
        default=defaults.history_retention_mb,
        help="... and up to this size per topic (default: -1, no limit)",
    )
    group.add_argument(
        "--metrics-retention-minutes",
        type=int,
        default=defaults.metrics_retention_minutes,
        help="keep metrics this long, for `streamloop report` (default: 10080, a week)",
    )
    group.add_argument(
        "--offload-threshold-mb",
        type=int,
        default=defaults.offload_threshold_mb,
        help="offload a topic's closed ledgers to tiered storage past this size (default: 1024; -1: never)",
    )


def policies(args: argparse.Namespace) -> Any:
    """The :class:`~streamloop.tools.provisioning.TopicPolicies` of the options."""
    from streamloop.tools.provisioning import TopicPolicies

    return TopicPolicies(
        history_retention_minutes=args.history_retention_minutes,
        history_retention_mb=args.history_retention_mb,
        metrics_retention_minutes=args.metrics_retention_minutes,
        offload_threshold_mb=args.offload_threshold_mb,
    )


def run(args: argparse.Namespace) -> int:
    from streamloop.tools.provisioning import provision

    connection = Connection.from_args(args)
    admin = connection.admin()
    for line in provision(
        admin, args.namespace, policies(args), grant=args.grant, partitions=args.partitions
    ):
        print(line)
    say_how_connected("provision", connection)
    return 0
