"""Recompute the features of the whole `events` history with a (changed) features spec, join them with the
retained `labels`, and write the training set (or publish it to a topic for a challenger learner).

Events and labels are read from the earliest message (a Reader: offloaded ledgers are read
transparently) up to the newest at the time. Features come from the code the features function runs,
point in time: each example sees only its key's events at or before its own time, whatever order they
arrived in. A malformed event (one the features function would dead-letter) is counted and skipped, with
its reason on stderr. The set has the joiner's example shape, so `streamloop train` fits on it; a topic
gets the examples keyed by event id, as `examples` does. See docs/history.md.

Examples::

    streamloop rebuild --features-config my-features.yaml --out out/set.jsonl \\
        --service-url pulsar://127.0.0.1:6650 --namespace public/default
    streamloop train out/set.jsonl --version rebuilt-1 --out out/model.onnx
    streamloop rebuild --features-config my-features.yaml --to-topic examples-v2
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

from streamloop.tools.commands import add_command, add_namespace
from streamloop.tools.connection import SERVICE_URL, Connection, add_options

SHOWN_SKIPS = 10  # malformed messages listed on stderr, the rest only counted


def register(sub: Any) -> None:
    parser = add_command(sub, "rebuild", "recompute features from the whole events history", __doc__)
    parser.add_argument(
        "--features-config", required=True, help="the features FunctionConfig YAML to recompute with"
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", help="write the examples to this JSON Lines file")
    target.add_argument(
        "--to-topic", help="publish the examples to this topic (a name in --namespace, or a URL)"
    )
    parser.add_argument(
        "--service-url",
        help=f"the broker with the history (default: the client.conf's brokerServiceUrl, else {SERVICE_URL})",
    )
    add_namespace(parser)
    parser.add_argument(
        "--label-field", default="label", help="the label records' value field (the joiner's label_field)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import pulsar

    from streamloop.tools import terminal
    from streamloop.tools.history import load_features_config
    from streamloop.tools.rebuild import publish_examples, read_topic, rebuild
    from streamloop.tools.records import write_jsonl
    from streamloop.tools.runlog import topic

    config = load_features_config(args.features_config)
    show = not args.quiet and terminal.stderr.is_terminal
    bar = terminal.progress_counts("messages") if show else contextlib.nullcontext(None)
    connection = Connection.from_args(args)
    with connection.connected(logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Warn)) as client:
        with bar as progress:
            counters = [
                _advance(progress, what) for what in ("events read", "labels read", "events featurized")
            ]
            events = _counted(read_topic(client, topic("events", args.namespace)), counters[0])
            labels = _counted(read_topic(client, topic("labels", args.namespace)), counters[1])
            result = rebuild(events, labels, config, args.label_field, on_featurized=counters[2])
        skipped = [*result.malformed, *result.malformed_labels]
        for message_id, reason in skipped[:SHOWN_SKIPS]:
            print(f"skipped message {message_id}: {reason}", file=sys.stderr)
        if len(skipped) > SHOWN_SKIPS:
            print(f"... and {len(skipped) - SHOWN_SKIPS} more skipped messages", file=sys.stderr)
        if args.out:
            write_jsonl(args.out, result.examples)
            done = f"wrote {len(result.examples)} examples to {args.out}"
        else:
            name = args.to_topic if "://" in args.to_topic else topic(args.to_topic, args.namespace)
            publish_examples(client, name, result.examples)
            done = f"published {len(result.examples)} examples to {name}, keyed by event id"
    print(result.summary())
    print(f"{done}; features: {', '.join(result.feature_names)}")
    return 0


def _advance(progress: Any, description: str) -> Callable[[int], None] | None:
    """A callback advancing a new task of ``progress`` by its argument (``None`` without a bar)."""
    if progress is None:
        return None
    task = progress.add_task(description, total=None)
    return lambda n: progress.advance(task, n)


def _counted(messages: Iterator[Any], advance: Callable[[int], None] | None) -> Iterator[Any]:
    """``messages``, calling ``advance(1)`` for each."""
    for message in messages:
        if advance is not None:
            advance(1)
        yield message
