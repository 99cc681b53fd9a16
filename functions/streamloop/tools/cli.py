"""The ``streamloop`` command.

Examples::

    streamloop validate                              # check every pulsar-config/*.yaml
    streamloop demo                                  # the drifting-stream demo on the embedded runner
    streamloop dataset --out data && streamloop replay data/events.jsonl --labels data/labels.jsonl
    streamloop run --service-url pulsar://127.0.0.1:6650   # the four functions in this process, on a broker
    streamloop report --run out/run                  # accuracy per model version, latencies: PNG + HTML
    streamloop train data/events.jsonl --labels data/labels.jsonl --out out/model.onnx
    streamloop deploy && streamloop status           # the four functions on a cluster (admin REST API)
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from streamloop.tools.admin import AdminError
from streamloop.tools.commands import add_admin, add_command, add_namespace
from streamloop.tools.connection import SERVICE_URL, BrokerError, Connection, add_options
from streamloop.worker.config import ConfigError, FunctionFile

EXAMPLES = __doc__.split("Examples::", 1)[1]
# Optional packages of some commands, by the pyproject extra that installs them.
EXTRAS = {"sklearn": "train", "skl2onnx": "train", "matplotlib": "report"}
# Subcommands that live in streamloop/tools/commands/, in the order --help lists them.
COMMANDS = ("dataset", "replay", "train", "rebuild", "provision", "deploy", "status", "report")


def _config_files(paths: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        files.extend(sorted(path.glob("*.yaml")) if path.is_dir() else [path])
    return files


def cmd_validate(args: argparse.Namespace) -> int:
    from streamloop.runtime.definition import check_function_files

    problems: list[object] = []
    files = _config_files(args.paths)
    loaded = []
    for path in files:
        try:
            loaded.append(FunctionFile.load(path))
        except ConfigError as error:
            problems.extend(error.problems)
    problems.extend(check_function_files(loaded))
    if args.admin_url:
        from streamloop.tools.provisioning import check_partitions

        lines, live = check_partitions(Connection.from_args(args).admin(), args.namespace)
        for line in lines:
            print(line)
        problems.extend(live)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in {len(files)} file(s)", file=sys.stderr)
        return 1
    print(f"{len(files)} file(s) OK: {', '.join(p.name for p in files)}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from streamloop.runtime.runner import Runner

    connection = Connection.from_args(args)
    with connection.connected() as client:
        runner = Runner.from_directory(args.config_dir, client=client, state_dir=args.state_dir)
        runner.start()
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        print(f"running {', '.join(runner.function_names)} against {connection.service_url}; Ctrl-C stops")
        runner.run(stop)
        runner.stop()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from streamloop.tools.demo import print_table, run_demo, write_outputs

    print(f"streaming {args.events} drifting events through the loop (labels {args.label_delay} events late)")
    result = run_demo(args.config_dir, n=args.events, label_delay=args.label_delay, seed=args.seed)
    json_path, png_path = write_outputs(result, args.out)
    print_table(result.summary)
    print(f"wrote {json_path} and {png_path}")
    return 0


VALIDATE = """Check FunctionConfig YAML files and their userConfig: every problem with its file and key,
including FunctionConfig keys that pulsar-admin would silently ignore, a topic that names one partition
(`...-partition-3`), and, between the files given, a function batching mixed keys (`batch_by_key: false`)
into a topic another reads on Key_Shared with parallelism > 1. With --admin-url, also the live namespace:
each loop topic's partitions, and a partitioned models, metrics or dead-letters topic is a problem. Exits 1
if there is any.

Examples::

    streamloop validate                              # every pulsar-config/*.yaml
    streamloop validate pulsar-config/learner.yaml my-features.yaml
    streamloop validate --admin-url http://127.0.0.1:8090,127.0.0.1:8091 --namespace public/fraud
"""
RUN = """Run the four functions in this process against a broker, until Ctrl-C (the functions must not
also be deployed there: they would share subscriptions). To feed the loop a file on the embedded
transport instead, use `streamloop replay` without --service-url.

Examples::

    streamloop run --service-url pulsar://127.0.0.1:6650
    streamloop run --service-url pulsar://127.0.0.1:6650 --state-dir .state
    streamloop run --client-conf conf/client.conf     # a secured cluster: URL, token and CAs from there
"""
DEMO = """Drifting stream through the loop against a static model and river's own evaluation (embedded
runner); writes <out>/demo.json and <out>/demo.png.

Examples::

    streamloop demo
    streamloop demo --events 20000 --label-delay 500 --out out/big
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamloop",
        description="Online machine learning inside Apache Pulsar.",
        epilog="examples:" + EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    validate = add_command(sub, "validate", "check FunctionConfig YAMLs and their userConfig", VALIDATE)
    validate.add_argument("paths", nargs="*", default=["pulsar-config"], help="files or directories")
    add_namespace(validate)
    add_admin(validate, default="none: the files only")
    validate.set_defaults(handler=cmd_validate)

    run = add_command(sub, "run", "run the four functions in this process, on a broker", RUN)
    run.add_argument("--config-dir", default="pulsar-config")
    run.add_argument(
        "--service-url",
        help=f"the broker (default: brokerServiceUrl of the client.conf, else {SERVICE_URL})",
    )
    run.add_argument("--state-dir", help="keep function state in this directory across runs")
    add_options(run)
    run.set_defaults(handler=cmd_run)

    demo = add_command(sub, "demo", "drifting stream: the loop vs a static model", DEMO)
    demo.add_argument("--config-dir", default="pulsar-config")
    demo.add_argument("--events", type=int, default=8000)
    demo.add_argument("--label-delay", type=int, default=100)
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--out", default="out")
    demo.set_defaults(handler=cmd_demo)
    for command in COMMANDS:
        importlib.import_module(f"streamloop.tools.commands.{command}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from streamloop.tools import terminal
    except ModuleNotFoundError as error:  # the tools' own dependencies (rich) are not installed
        print(f"streamloop needs {error.name}: pip install 'streamloop[tools]'", file=sys.stderr)
        return 1
    try:
        return args.handler(args)
    except ConfigError as error:
        terminal.stderr.print(str(error))
        return 2
    except ModuleNotFoundError as error:
        extra = EXTRAS.get((error.name or "").split(".")[0])
        if extra is None:
            raise
        terminal.error(args.command, f"needs {error.name}: pip install 'streamloop[{extra}]'")
        return 1
    # unreachable or refusing cluster, missing or malformed file
    except (AdminError, BrokerError, OSError, ValueError) as error:
        terminal.error(args.command, error)
        return 1


if __name__ == "__main__":
    sys.exit(main())
