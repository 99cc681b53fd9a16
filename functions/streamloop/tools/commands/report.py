"""Draw a run's prequential metric per model version over time, with drift, promotion and rejection marks,
and latency histograms per stage, to a PNG and a self-contained HTML page (the PNG inlined).

The run is a folder that ``streamloop replay`` wrote on the embedded runner (``--run``), or the loop's
topics on a broker (``--service-url``), read with a Reader from the earliest message: ``metrics``, and
``events``/``predictions``/``labels``/``examples`` for the latencies (broker publish times by event id).

Examples::

    streamloop report --run out/run --out out/report           # out/report/report.png and report.html
    streamloop report --service-url pulsar://127.0.0.1:6650 --namespace public/default --out out/report
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from streamloop.tools.commands import add_command, add_namespace
from streamloop.tools.connection import Connection, add_options


def register(sub: Any) -> None:
    parser = add_command(sub, "report", "accuracy per model version and latencies: PNG + HTML", __doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--run", help="a folder written by `streamloop replay` (metrics.jsonl, latency.jsonl)"
    )
    source.add_argument("--service-url", help="read the loop's topics on this broker")
    add_namespace(parser)
    parser.add_argument("--out", default="out/report", help="output folder (default: out/report)")
    parser.add_argument("--title", default="streamloop", help="title of the picture and the page")
    add_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from streamloop.tools.report import draw, summarize, write_html
    from streamloop.tools.runlog import RunLog, collect

    if args.run:
        run_log = RunLog.load(args.run)
        source = args.run
    else:
        import pulsar

        connection = Connection.from_args(args)
        with connection.connected(logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Warn)) as client:
            run_log = collect(client, args.namespace)
        source = f"{connection.service_url} ({args.namespace})"
    summary = summarize(run_log)
    out = Path(args.out)
    png = draw(summary, out / "report.png", args.title)
    page = write_html(summary, png, out / "report.html", f"{args.title} report")
    counts = ", ".join(f"{v} {k}" for k, v in summary.counts.items())
    print(f"read {source}: {counts}")
    last = summary.last_served
    if last:
        print(f"latest window: {last[0]} at {summary.shown(last[1])} {summary.metric}")
    for stage, p in summary.latency.items():
        print(
            f"latency {stage}: p50 {p['p50']:.1f} ms, p95 {p['p95']:.1f} ms, p99 {p['p99']:.1f} ms "
            f"({p['n']:.0f} messages)"
        )
    print(f"wrote {png} and {page}")
    return 0
