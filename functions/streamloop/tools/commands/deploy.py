"""Create the four functions on a cluster through the admin REST API, from the unchanged FunctionConfig
YAMLs of ``--config-dir`` (the same effect as ``pulsar-admin functions create --function-config-file``).

Checks every file first (like ``streamloop validate``), provisions the namespace as ``streamloop
provision`` does (the loop's topics, ``models`` compacted, the history retained and offloaded;
``--no-provision`` when an administrator did it), uploads the package (default: this installed code, for
workers whose ``python3`` has the dependencies; ``dist/streamloop.zip`` from ``make package`` carries every
wheel), creates each function with one instance and scales it to its parallelism once that one runs (two
instances creating a state table at once crash in Pulsar 4.0.8: ``deployment.creation_steps``), then
waits until every instance runs and prints the status table (exit 1 if one does not run).

A secret set to ``generate`` (the learner's ``checkpoint_hmac_key``; the ``model_signing_key`` of the
learner and the scorer) gets the namespace's random key of that name: generated on the first deploy into
``--key-dir`` (``<dir>/<tenant>/<namespace>/<secret>``, mode 0600), reused by every later one, so the
learner keeps verifying its checkpoints and the scorers verify the learner's models.

Examples::

    streamloop deploy --admin-url http://127.0.0.1:8080
    streamloop deploy --namespace public/fraud --package dist/streamloop.zip --wait 300
    streamloop deploy --admin-url http://127.0.0.1:8090,127.0.0.1:8091 \\
        --functions-url http://127.0.0.1:6760,127.0.0.1:6761 --partitions 4
    streamloop deploy --client-conf conf/client.conf     # a secured cluster: URL, token and CAs from there
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from streamloop.tools.admin import AdminError
from streamloop.tools.commands import add_admin, add_command, add_namespace, say_how_connected
from streamloop.tools.commands.provision import add_policy_options, policies
from streamloop.tools.connection import Connection

UNDEPLOY = """Delete the four functions of --config-dir from a namespace (those already gone are reported, not
an error), and with --topics the loop's topics too, once the functions' instances have left them (the
workers stop instances a few seconds after the delete; at most 60 s is waited).

Examples::

    streamloop undeploy
    streamloop undeploy --namespace public/fraud --topics
"""
FIRST_INSTANCE_WAIT = 120.0  # seconds a new function's first instance may take to run (creation_steps)
UNDEPLOY_WAIT = 60.0  # seconds --topics waits for the deleted functions' instances to leave the topics


def register(sub: Any) -> None:
    deploy = add_command(sub, "deploy", "create the four functions on a cluster (admin REST API)", __doc__)
    _common(deploy)
    deploy.add_argument("--package", help="the function package (default: this code, zipped)")
    deploy.add_argument("--update", action="store_true", help="update functions that already exist")
    deploy.add_argument(
        "--no-provision",
        dest="provision",
        action="store_false",
        help="the namespace and topics exist (an administrator ran `streamloop provision`)",
    )
    add_policy_options(deploy)
    deploy.add_argument(
        "--wait", type=float, default=180, help="seconds to wait for every instance (0: don't)"
    )
    deploy.add_argument(
        "--key-dir",
        help="where generated secret keys are kept "
        "(default: $STREAMLOOP_KEY_DIR, else ~/.config/streamloop/keys)",
    )
    deploy.set_defaults(handler=run_deploy)
    undeploy = add_command(sub, "undeploy", "delete the four functions (and --topics)", UNDEPLOY)
    _common(undeploy)
    undeploy.add_argument("--topics", action="store_true", help="delete the loop's topics too")
    undeploy.set_defaults(handler=run_undeploy)


def _common(parser: argparse.ArgumentParser) -> None:
    add_namespace(parser)
    parser.add_argument(
        "--config-dir", default="pulsar-config", help="FunctionConfig YAMLs (default: pulsar-config)"
    )
    add_admin(parser)


def _configs(config_dir: str) -> list[Any]:
    from streamloop.runtime.definition import check_function_files
    from streamloop.worker.config import ConfigError, FunctionFile

    files = [FunctionFile.load(p) for p in sorted(Path(config_dir).glob("*.yaml"))]
    if not files:
        raise SystemExit(f"deploy: no *.yaml in {config_dir}")
    problems = check_function_files(files)
    if problems:
        raise ConfigError(problems)
    return files


def wait_running(admin: Any, namespace: str, names: list[str], timeout: float) -> list[tuple[str, Any]]:
    """Poll every function's status until all instances run or ``timeout`` passes; return the last."""
    from streamloop.tools.deployment import all_running, status_or_none

    deadline = time.monotonic() + timeout
    while True:
        statuses = [(name, status_or_none(admin, namespace, name)) for name in names]
        if all_running(statuses) or time.monotonic() >= deadline:
            return statuses
        time.sleep(1.0)


def run_deploy(args: argparse.Namespace) -> int:
    from streamloop.runtime.keys import KeyStore, default_key_dir
    from streamloop.tools.deployment import (
        all_running,
        code_package,
        creation_steps,
        describe_keys,
        in_namespace,
        status_table,
        with_keys,
    )
    from streamloop.tools.terminal import show

    files = _configs(args.config_dir)
    connection = Connection.from_args(args)
    admin = connection.admin()
    if args.provision:
        for line in _provision(admin, args):
            print(line)
    keys = KeyStore(args.key_dir or default_key_dir())
    with tempfile.TemporaryDirectory() as scratch:
        package = Path(args.package) if args.package else code_package(scratch)
        configs = []
        for file in files:
            config, used = with_keys(in_namespace(file.config, args.namespace), keys)
            for line in describe_keys(str(config["name"]), used):
                print(line)
            configs.append(config)
        steps = [(c, None) for c in configs] if args.update else creation_steps(configs)
        for file, (config, scale_to) in zip(files, steps, strict=True):
            name = str(config["name"])
            try:
                admin.create_function(config, package.resolve(), update=args.update)
            except AdminError as error:
                hint = "; add --update to replace it" if "already exists" in str(error) else ""
                raise AdminError(f"{error}{hint}") from None
            print(f"{'updated' if args.update else 'created'} {args.namespace}/{name} from {file.path}")
            if scale_to is not None:
                wait_running(admin, args.namespace, [name], FIRST_INSTANCE_WAIT)
            if scale_to is not None and scale_to > 1:
                admin.scale_function(args.namespace, name, scale_to)
                print(f"scaled {args.namespace}/{name} to {scale_to} instances")
    say_how_connected(args.command, connection)
    if args.wait <= 0:
        return 0
    statuses = wait_running(admin, args.namespace, [f.name for f in files], args.wait)
    show(status_table(statuses))
    running = all_running(statuses)
    if not running:
        print(f"deploy: not every instance runs after {args.wait:.0f} s", flush=True)
    return 0 if running else 1


def _provision(admin: Any, args: argparse.Namespace) -> list[str]:
    """``streamloop provision`` of the namespace; a refusal says who may do it."""
    from streamloop.tools.provisioning import provision

    try:
        return provision(admin, args.namespace, policies(args), partitions=args.partitions)
    except AdminError as error:
        if not error.not_authorized:
            raise
        raise AdminError(
            f"{error}; this role may not provision {args.namespace}: an administrator runs "
            f"`streamloop provision --namespace {args.namespace} --grant <this role>`, then deploy with "
            "--no-provision",
            error.status,
        ) from None


def run_undeploy(args: argparse.Namespace) -> int:
    from streamloop.tools.provisioning import TOPICS

    files = _configs(args.config_dir)
    connection = Connection.from_args(args)
    admin = connection.admin()
    for name in [f.name for f in files]:
        gone = admin.delete_function(args.namespace, name)
        print(f"{'deleted' if gone else 'no function'} {args.namespace}/{name}")
    if args.topics:
        subscriptions = [str(f.config.get("subName") or f"{args.namespace}/{f.name}") for f in files]
        left = admin.wait_instances_gone(args.namespace, subscriptions, within=UNDEPLOY_WAIT)
        if left:
            print(
                f"instances still connected after {UNDEPLOY_WAIT:.0f} s, deleting anyway: {', '.join(left)}"
            )
        admin.delete_topics(args.namespace, TOPICS)
        print(f"deleted topics {', '.join(TOPICS)} of {args.namespace}")
    say_how_connected(args.command, connection)
    return 0
