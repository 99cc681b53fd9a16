"""``python -m streamloop.tools.bench [--quick] [--out out/bench.json]``: measure, print, write JSON."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import orjson

from streamloop.runtime.runner import Runner
from streamloop.tools.bench import broker, compare, families, pending, rebuild, report
from streamloop.tools.bench.ceiling import Chain, timed
from streamloop.tools.bench.embedded import run_loop, topic_messages
from streamloop.tools.bench.identity import run_identity
from streamloop.tools.bench.pulsar_io import TopicMessages
from streamloop.tools.bench.workload import LABEL_DELAY, Workload
from streamloop.tools.connection import add_options

QUICK = {"events": 2000, "rounds": 3, "family_examples": 1000, "family_rows": 500}
FULL = {"events": 20000, "rounds": 5, "family_examples": 20000, "family_rows": 5000}
BROKER_EVENTS = 10000  # events behind each real-Pulsar measurement


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m streamloop.tools.bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run (< 1 minute): fewer events and rounds"
    )
    parser.add_argument(
        "--out", default="out/bench.json", help="where to write the JSON (default %(default)s)"
    )
    parser.add_argument("--config-dir", default="pulsar-config", help="the FunctionConfig YAMLs (the demo's)")
    parser.add_argument("--events", type=int, help="events per run (default 2000 quick, 20000 full)")
    parser.add_argument(
        "--rounds", type=int, help="interleaved ceiling/loop rounds (default 3 quick, 5 full)"
    )
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("PULSAR_ADMIN_URL"),
        help="the broker sections' admin REST API (default: $PULSAR_ADMIN_URL, the client.conf's "
        "webServiceUrl, else http://127.0.0.1:8080)",
    )
    parser.add_argument(
        "--service-url",
        default=os.environ.get("PULSAR_SERVICE_URL"),
        help="... and broker (default: $PULSAR_SERVICE_URL, the client.conf's brokerServiceUrl, "
        "else pulsar://127.0.0.1:6650)",
    )
    parser.add_argument(
        "--functions-url",
        help="... and function workers' REST API (default: $STREAMLOOP_FUNCTIONS_URL, else the admin URL)",
    )
    parser.add_argument(
        "--partitions",
        type=compare.parse_partitions,
        default=compare.parse_partitions("1,2,4"),
        help="run the deployed loop with its stream topics in each of these partition counts, 1 included "
        "(default 1,2,4; 1: only the non-partitioned loop)",
    )
    parser.add_argument(
        "--cluster",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the same loop on the multi-node cluster too (packaging/cluster.sh up), reported as skipped "
        "when it does not answer (default: on; --no-cluster: do not try)",
    )
    parser.add_argument(
        "--cluster-service-url",
        default=compare.CLUSTER_SERVICE_URL,
        help="the cluster's brokers (%(default)s)",
    )
    parser.add_argument(
        "--cluster-admin-url",
        default=compare.CLUSTER_ADMIN_URL,
        help="... their admin REST API (%(default)s)",
    )
    parser.add_argument(
        "--cluster-functions-url",
        default=compare.CLUSTER_FUNCTIONS_URL,
        help="... and the function workers' REST API (%(default)s)",
    )
    parser.add_argument(
        "--cluster-dir",
        default=compare.CLUSTER_DIR,
        help="where packaging/cluster.sh keeps <process>/pid (their CPU time is counted; %(default)s)",
    )
    add_options(parser)
    return parser.parse_args(argv)


def machine() -> dict[str, Any]:
    packages = ("onnxruntime", "river", "orjson", "numpy", "pulsar-client")
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_avg": round(os.getloadavg()[0], 2),
        "versions": {name: version(name) for name in packages},
    }


def progress(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def measure_local(workload: Workload, rounds: int) -> dict[str, dict[str, Any]]:
    """Ceiling, embedded loop and embedded identity, interleaved round by round (the order alternates)."""
    n = len(workload)
    progress(f"preparing the library chain ({n} events)")
    chain = Chain(workload)
    run_loop(Workload.demo(min(n, 300), workload.config_dir))  # warm-up: imports, first ONNX sessions
    chain.chain()
    ceiling_s: list[tuple[float, float]] = []  # (wall, cpu) seconds per run
    loop_s: list[tuple[float, float]] = []
    identity_s: list[tuple[float, float]] = []
    outputs: dict[str, Any] = {}
    for r in range(rounds):
        for which in ("ceiling", "loop", "identity") if r % 2 == 0 else ("identity", "loop", "ceiling"):
            if which == "ceiling":
                ceiling_s.append(timed(chain.chain))
            elif which == "identity":
                identity_s.append(run_identity(chain.payloads))
            else:
                outputs = run_loop(workload)
                loop_s.append((outputs.pop("seconds"), outputs.pop("cpu_seconds")))
        progress(
            f"round {r + 1}/{rounds}: ceiling {n / ceiling_s[-1][0]:,.0f} ev/s, "
            f"embedded loop {n / loop_s[-1][0]:,.0f} ev/s "
            f"(CPU-time ratio {ceiling_s[-1][1] / loop_s[-1][1]:.1%}), "
            f"embedded identity {identity_s[-1][0] / n * 1e6:.1f} µs/message"
        )
    breakdown = {}
    for name, step in chain.steps.items():
        breakdown[name] = round(statistics.median(timed(step)[1] for _ in range(rounds)) / n * 1e6, 2)
    progress("breakdown (CPU): " + ", ".join(f"{k} {v:.1f} µs" for k, v in breakdown.items()))
    ratios = [c[1] / e[1] for c, e in zip(ceiling_s, loop_s, strict=True)]
    ceiling = {
        "status": "ok",
        **report.throughput(ceiling_s, n),
        "breakdown_cpu_us_per_event": breakdown,
        "outputs": {"predictions": len(chain.trace.predictions), "models": len(chain.trace.promotions)},
    }
    embedded = {
        "status": "ok",
        **report.throughput(loop_s, n),
        "ratio_to_ceiling": round(statistics.median(ratios), 4),
        "runs_ratio_to_ceiling": [round(r, 4) for r in ratios],
        "outputs": outputs,
    }
    identity = {"status": "ok", **report.throughput(identity_s, n)}
    return {"ceiling": ceiling, "embedded": embedded, "embedded_identity": identity}


def measure_joiner_memory(config_dir: str, per_side: int | None) -> dict[str, Any]:
    """RSS of a joiner holding ``per_side`` (default: ``max_pending`` of joiner.yaml) of each half."""
    if per_side is None:
        per_side = Runner.from_directory(config_dir).user_config("joiner").max_pending  # type: ignore[union-attr]
    progress(f"joiner memory: {per_side} pending predictions and {per_side} pending labels")
    sample = [payload for _, payload, _ in topic_messages(Workload.demo(300, config_dir))["predictions"]]
    section = pending.measure(config_dir, per_side, sample)
    progress(f"joiner memory: RSS {section['rss_mb_empty']} MB empty, {section['rss_mb_full']} MB full")
    return section


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    defaults = QUICK if args.quick else FULL
    events, rounds = args.events or defaults["events"], args.rounds or defaults["rounds"]
    progress(f"{'quick' if args.quick else 'full'} run: {events} events, {rounds} rounds")
    if not args.quick:
        progress(broker.plan(args))
    sections = measure_local(Workload.demo(events, args.config_dir), rounds)
    sections["joiner_memory"] = measure_joiner_memory(args.config_dir, events if args.quick else None)
    sections["families"] = families.measure(defaults["family_examples"], defaults["family_rows"], progress)
    sections["rebuild"] = rebuild.measure(Workload.demo(events, args.config_dir), rounds, progress)

    def broker_inputs() -> TopicMessages:
        progress(f"broker: the loop's messages for {min(events, BROKER_EVENTS)} events (embedded run)")
        return topic_messages(Workload.demo(min(events, BROKER_EVENTS), args.config_dir))

    sections.update(broker.measure(args, broker_inputs))
    doc = {
        "bench": "streamloop",
        "schema": 1,
        "mode": "quick" if args.quick else "full",
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "workload": {
            "events": events,
            "rounds": rounds,
            "label_delay": LABEL_DELAY,
            "config_dir": str(args.config_dir),
        },
        "targets": report.targets(sections),
        "sections": sections,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    print(report.table(doc))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
