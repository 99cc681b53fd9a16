"""Write the demo's drifting stream as files to replay or train on: events and their labels.

River's ``synth.Sine`` whose label rule flips at ``--drift-at`` (default: half way), with an entity key and
a categorical channel, one event per second from 2026-01-01. The fields match ``pulsar-config/features.yaml``.

Examples::

    streamloop dataset --events 8000 --out data             # data/events.jsonl, data/labels.jsonl
    streamloop dataset --events 2000 --format csv --out data  # data/events.csv with a label column
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

from streamloop.tools.commands import add_command
from streamloop.tools.records import write_jsonl


def register(sub: Any) -> None:
    parser = add_command(sub, "dataset", "write a drifting demo dataset (events, labels)", __doc__)
    parser.add_argument("--events", type=int, default=8000, help="how many events (default: 8000)")
    parser.add_argument("--drift-at", type=int, help="event where the concept flips (default: half way)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--format", choices=("jsonl", "csv"), default="jsonl", help="jsonl: two files; csv: one, labelled"
    )
    parser.add_argument("--out", default="data", help="output folder (default: data)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from streamloop.tools.demo import drifting_stream

    pairs = list(drifting_stream(args.events, args.drift_at or args.events // 2, args.seed))
    out = Path(args.out)
    if args.format == "jsonl":
        write_jsonl(out / "events.jsonl", (event for event, _ in pairs))
        write_jsonl(out / "labels.jsonl", (label for _, label in pairs))
        print(
            f"wrote {len(pairs)} events to {out / 'events.jsonl'} and their labels to {out / 'labels.jsonl'}"
        )
        return 0
    out.mkdir(parents=True, exist_ok=True)
    with (out / "events.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*pairs[0][0], "label"])
        writer.writeheader()
        for event, label in pairs:
            writer.writerow({**event, "label": str(label["label"]).lower()})
    print(f"wrote {len(pairs)} labelled events to {out / 'events.csv'} (label column: label)")
    return 0
