"""The demo: a drifting stream through the whole loop, against a static model and river's own evaluation.

The stream is river's ``synth.Sine`` with an abrupt concept drift in the middle (the label rule flips, as
in the classic SINE1 benchmark), plus an entity key and a categorical channel so the feature spec has
something to aggregate. Labels arrive ``label_delay`` events after their event. In the same run the demo
scores the stream with a static model trained on the first segment only, and runs river's
``evaluate.progressive_val_score`` with the same model and delay in-process as the reference.
"""

from __future__ import annotations

import contextlib
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pulsar
from rich.table import Table
from river import datasets, evaluate, metrics, utils

from streamloop.runtime.runner import Runner
from streamloop.tools.replay import replay
from streamloop.tools.terminal import progress_bar, show
from streamloop.worker.config import topic
from streamloop.worker.learner.models import build_model, pure_inference_mode
from streamloop.worker.messages import read_example, read_metric_record, read_prediction

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z: one event per second from here
CHANNELS = ("web", "app", "pos")


def drifting_stream(n: int, drift_at: int, seed: int = 42) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Yield ``(event, label)`` pairs: river's Sine concept flips at ``drift_at``.

    >>> event, label = next(drifting_stream(10, 5))
    >>> sorted(event), sorted(label)
    (['channel', 'id', 'key', 'ts', 'x0', 'x1'], ['id', 'label', 'ts'])
    """
    # ConceptDriftStream overflows math.exp when width < 4 * position / 709, so keep width >= that.
    width = max(10, 4 * drift_at // 700 + 1)
    stream = datasets.synth.ConceptDriftStream(
        stream=datasets.synth.Sine(classification_function=0, seed=seed),
        drift_stream=datasets.synth.Sine(classification_function=1, seed=seed + 1),
        position=drift_at,
        width=width,
        seed=seed + 2,
    )
    rng = random.Random(seed)
    for i, (x, y) in enumerate(itertools.islice(stream, n)):
        event_id = f"e{i:07d}"
        ts = T0 + i
        event = {
            "id": event_id,
            "key": f"user-{rng.randrange(50):02d}",
            "ts": ts,
            "x0": x[0],
            "x1": x[1],
            "channel": rng.choice(CHANNELS),
        }
        yield event, {"id": event_id, "label": bool(y), "ts": ts + 0.5}


@dataclass
class DemoResult:
    summary: dict[str, Any]
    loop_correct: list[bool]
    static_correct: list[bool]
    reference_correct: list[bool]


def read_topic(client: Any, name: str) -> list[Any]:
    """Every message on a topic, oldest first."""
    reader = client.create_reader(name, pulsar.MessageId.earliest)
    messages = []
    while reader.has_message_available():
        messages.append(reader.read_next(timeout_millis=1000))
    reader.close()
    return messages


def run_demo(
    config_dir: str | Path = "pulsar-config",
    *,
    n: int = 8000,
    label_delay: int = 100,
    segments: int = 4,
    seed: int = 42,
    progress: bool = True,
) -> DemoResult:
    """Run the loop on the embedded runner and score it against the static model and river's reference."""
    drift_at = n // 2
    pairs = list(drifting_stream(n, drift_at, seed))
    runner = Runner.from_directory(config_dir)
    runner.start()
    with progress_bar("events") if progress else contextlib.nullcontext(None) as bar:
        task = bar.add_task("demo", total=n) if bar is not None else None

        def pump(kind: str, record: dict[str, Any]) -> None:
            runner.pump()
            if bar is not None and kind == "e":
                bar.advance(task)

        events, labels = (e for e, _ in pairs), (lbl for _, lbl in pairs)
        replay(runner.client, events, labels, label_delay=label_delay, on_sent=pump)
    runner.pump()
    client = runner.client
    predictions = {}
    for message in read_topic(client, topic("predictions")):
        prediction = read_prediction(message.data())
        predictions.setdefault(prediction["id"], prediction)
    examples = {}
    for message in read_topic(client, topic("examples")):
        example = read_example(message.data())
        examples.setdefault(example["id"], example)
    events_metrics = [r for m in read_topic(client, topic("metrics")) if (r := read_metric_record(m.data()))]
    runner.stop()

    index = {e["id"]: i for i, (e, _) in enumerate(pairs)}
    truth = [lbl["label"] for _, lbl in pairs]
    loop_correct = [predictions.get(e["id"], {}).get("y_pred") == truth[i] for i, (e, _) in enumerate(pairs)]

    # The features the loop computed, in event order: the static model and the reference use them too.
    xs = [predictions[e["id"]]["x"] for e, _ in pairs]
    learner_config = runner.user_config("learner")
    static = build_model(learner_config.model)
    for x, y in zip(xs[: n // segments], truth[: n // segments], strict=False):
        static.learn_one(x, y)
    with pure_inference_mode():
        static_correct = [static.predict_one(x) == y for x, y in zip(xs, truth, strict=False)]
    reference_correct = [
        step["Prediction"] == y
        for step, y in zip(
            evaluate.iter_progressive_val_score(
                zip(xs, truth, strict=False),
                build_model(learner_config.model),
                metrics.Accuracy(),
                delay=label_delay,
                step=1,
                yield_predictions=True,
            ),
            truth,
            strict=False,
        )
    ]

    def accuracy(flags: list[bool], start: int, end: int) -> float:
        return round(100 * sum(flags[start:end]) / max(1, end - start), 2)

    size = n // segments
    table = [
        {
            "start": s * size,
            "end": (s + 1) * size,
            "static_acc": accuracy(static_correct, s * size, (s + 1) * size),
            "loop_acc": accuracy(loop_correct, s * size, (s + 1) * size),
            "reference_acc": accuracy(reference_correct, s * size, (s + 1) * size),
        }
        for s in range(segments)
    ]

    def at(record: dict[str, Any]) -> int | None:
        return index.get(record.get("id")) if record.get("id") else None

    summary = {
        "events": len(pairs),
        "predictions": len(predictions),
        "examples": len(examples),
        "label_delay": label_delay,
        "drift_at": drift_at,
        "drift_detected_at": [at(r) for r in events_metrics if r.get("event") == "drift"],
        "promotions": [
            {"at": at(r), "version": r.get("version"), "reason": r.get("reason")}
            for r in events_metrics
            if r.get("event") == "promotion"
        ],
        "segments": table,
        "reference": "river.evaluate.progressive_val_score, same model and delay, in-process",
        "reference_acc": accuracy(reference_correct, 0, n),
        "loop_acc": accuracy(loop_correct, 0, n),
    }
    return DemoResult(summary, loop_correct, static_correct, reference_correct)


def write_outputs(result: DemoResult, out_dir: str | Path = "out", window: int = 200) -> tuple[Path, Path]:
    """Write ``demo.json`` and ``demo.png`` (rolling accuracy with drift and promotions marked)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "demo.json"
    json_path.write_bytes(orjson.dumps(result.summary, option=orjson.OPT_INDENT_2))

    def rolling(flags: list[bool]) -> list[float]:
        accuracy = utils.Rolling(metrics.Accuracy(), window_size=window)
        values = []
        for flag in flags:
            accuracy.update(True, flag)
            values.append(100 * accuracy.get())
        return values

    fig, ax = plt.subplots(figsize=(10, 5))
    ax.plot(rolling(result.loop_correct), label="streamloop (ONNX served, learned in the loop)", lw=1.6)
    ax.plot(rolling(result.static_correct), label="static model (first segment only)", lw=1.2)
    ax.plot(rolling(result.reference_correct), label="river progressive_val_score (reference)", lw=1, ls=":")
    summary = result.summary
    ax.axvline(summary["drift_at"], color="black", ls="--", lw=1, label="concept drift")
    for i, point in enumerate(p for p in summary["drift_detected_at"] if p is not None):
        ax.axvline(point, color="red", lw=0.8, alpha=0.7, label="drift detected" if i == 0 else None)
    promoted = [p["at"] for p in summary["promotions"] if p["at"] is not None]
    ax.plot(promoted, [2] * len(promoted), "^", color="green", ms=5, label="model promoted")
    ax.set_xlabel("event")
    ax.set_ylabel(f"accuracy over the last {window} events (%)")
    ax.set_ylim(0, 102)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, fontsize=8, frameon=False)
    ax.set_title("Prequential accuracy under concept drift")
    fig.tight_layout()
    png_path = out / "demo.png"
    fig.savefig(png_path, dpi=120)
    plt.close(fig)
    return json_path, png_path


def print_table(summary: dict[str, Any]) -> None:
    """Accuracy per segment: the static model, the loop and river's reference; then the counts."""
    table = Table("segment", "static", "loop", "river ref")
    for column in table.columns[1:]:
        column.justify = "right"
    for s in summary["segments"]:
        table.add_row(
            f"{s['start']} – {s['end']}",
            f"{s['static_acc']:.2f}%",
            f"{s['loop_acc']:.2f}%",
            f"{s['reference_acc']:.2f}%",
        )
    show(table)
    print(
        f"\n{summary['events']} events → {summary['predictions']} predictions, "
        f"{summary['examples']} examples; "
        f"drift at {summary['drift_at']}, detected at {summary['drift_detected_at']}; "
        f"{len(summary['promotions'])} promotions"
    )
