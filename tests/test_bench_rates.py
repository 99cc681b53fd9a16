"""The bench's time-sized rates, repeated inputs, identity loop, targets and table (no broker)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from streamloop.runtime.definition import define
from streamloop.runtime.runner import Runner
from streamloop.tools.bench import rates, report, variants
from streamloop.tools.bench.broker import FUNCTIONS
from streamloop.tools.bench.repeat import period, renamed, repeated
from streamloop.tools.bench.variants import VARIANTS, identity
from streamloop.worker.config import FunctionFile, UserConfig

REPO = Path(__file__).resolve().parents[1]


def ramp(rate: float, count: int, every: float = 0.5, start: float = 3.0) -> list[tuple[float, int]]:
    """A stats series: nothing until ``start``, then ``rate`` messages/s up to ``count``, a sample every
    ``every`` seconds."""
    series, t = [], 0.0
    while not series or series[-1][1] < count:
        series.append((t, min(count, int(max(0.0, t - start) * rate))))
        t += every
    return series


def test_a_rate_reports_its_samples_span_and_spread() -> None:
    run = rates.measured(ramp(1000.0, 20_000), 20_000)
    assert run["events_per_s"] == pytest.approx(1000.0, rel=0.01)
    assert run["seconds"] == pytest.approx(16.0, rel=0.01)  # 10 % .. 90 % of 20 s
    assert run["samples"] == 33 and run["sampling_s"] == 0.5  # t = 5.0, 5.5, ..., 21.0
    assert run["spread"] == pytest.approx(0.0, abs=0.05)  # a steady rate
    assert rates.spread([50.0, 100.0, 150.0, 100.0]) > 0.5  # an unsteady one


def test_a_backlog_drained_between_two_samples_is_flagged() -> None:
    series = [(0.0, 0), (1.0, 0), (2.0, 10_000)]  # identity functions on a quiet machine: 10k in one sample
    run = rates.flagged(rates.measured(series, 10_000), bare=16_000.0)
    assert run["samples"] == 0 and run["spread"] is None
    assert "2 stats samples" not in run["suspect"] and "0 stats samples (< 20)" in run["suspect"]
    fast = rates.flagged({"events_per_s": 40_000.0, "samples": 30}, bare=16_000.0)
    assert fast["suspect"] == "faster than the bare client loop (16,000 msg/s)"
    assert "suspect" not in rates.flagged({"events_per_s": 9_000.0, "samples": 30}, bare=16_000.0)
    never = rates.flagged(rates.measured([(0.0, 0), (1.0, 5)], 10_000), bare=16_000.0)
    assert math.isnan(never["events_per_s"]) and "suspect" not in never  # missed, not suspect


def test_a_run_is_sized_by_the_pilot_rate_the_bare_loop_and_the_cap() -> None:
    seconds = rates.seconds_for(1.0)  # one sample a second: the span must hold MIN_SAMPLES of them
    assert seconds == rates.MIN_SAMPLES * 1.0
    times = rates.repeats(5_000.0, 10_000, seconds)
    assert times * 10_000 * (rates.HIGH - rates.LOW) / 5_000.0 >= seconds  # the span lasts long enough
    claimed = rates.repeats(95_000.0, 10_000, seconds, ceiling=16_000.0)  # a pilot fooled by sampling
    assert claimed == rates.repeats(16_000.0, 10_000, seconds)
    assert rates.repeats(1e9, 10_000, seconds) * 10_000 <= rates.MAX_BACKLOG
    assert rates.repeats(float("nan"), 10_000, seconds) == 1
    assert rates.repeats(1.0, 10_000, seconds) == 1


def test_repeated_inputs_are_fresh_messages_whose_halves_still_match() -> None:
    predictions = [("e1", b'{"id":"e1","ts":100.0,"x":{}}', {}), ("e2", b'{"id":"e2","ts":101.0,"x":{}}', {})]
    labels = [
        ("e1", b'{"id":"e1","label":true,"ts":100.5}', {}),
        ("e2", b'{"id":"e2","label":false,"ts":101.5}', {}),
    ]
    shift = period([predictions, labels])
    assert shift == 3.0  # the rounds follow each other in time
    rounds = 3
    copies = {name: list(repeated(m, rounds, shift)) for name, m in (("p", predictions), ("l", labels))}
    ids = [orjson.loads(p)["id"] for _, p, _ in copies["p"]]
    assert len(set(ids)) == len(ids) == rounds * len(predictions)
    assert ids == [orjson.loads(p)["id"] for _, p, _ in copies["l"]]  # every prediction has its label
    assert [key for key, _, _ in copies["l"]] == ids  # keyed by its id, keyed by its new id
    times = [orjson.loads(p)["ts"] for _, p, _ in copies["p"]]
    assert times == sorted(times) and times[-1] == 101.0 + 2 * shift
    event = renamed(("entity-7", b'{"id":"e1","key":"entity-7","ts":5.0}', {"p": "v"}), "r2", 6.0)
    assert event == ("entity-7", b'{"id":"r2-e1","key":"entity-7","ts":11.0}', {"p": "v"})  # its key kept


def test_the_identity_loop_keeps_the_real_subscriptions_and_batching_without_secrets() -> None:
    configs = {
        name: yaml.safe_load((REPO / "pulsar-config" / f"{name}.yaml").read_text()) for name in FUNCTIONS
    }
    hopped = identity(configs)
    for name, config in hopped.items():
        real = configs[name]
        assert config["className"].startswith("streamloop.tools.bench.hops.")
        assert "secrets" not in config
        for key in ("inputs", "output", "processingGuarantees", "retainKeyOrdering", "retainOrdering"):
            assert config.get(key) == real.get(key), (name, key)
        for key in ("batch_by_key", "max_publish_delay_ms", "dead_letter_topic"):
            assert config["userConfig"].get(key) == real["userConfig"].get(key), (name, key)
    for name in ("features", "scorer", "learner"):  # only what every function shares (no model, no windows)
        assert set(hopped[name]["userConfig"]) <= set(UserConfig.model_fields)
    assert "model_name" in configs["scorer"]["userConfig"]
    assert (
        hopped["joiner"]["userConfig"]["predictions_topic"]
        == configs["joiner"]["userConfig"]["predictions_topic"]
    )
    assert [v.section for v in VARIANTS][:2] == ["loop_latency", "identity_loop"]


def test_the_fused_variant_deploys_what_examples_fused_ships() -> None:
    configs = {
        name: yaml.safe_load((REPO / "pulsar-config" / f"{name}.yaml").read_text()) for name in FUNCTIONS
    }
    fused = variants.fused(configs)
    shipped = yaml.safe_load((REPO / "examples" / "fused" / "features-scorer.yaml").read_text())
    assert set(fused) == {"features-scorer", "joiner", "learner"}
    one = fused["features-scorer"]
    for key in (
        "className",
        "inputs",
        "inputSpecs",
        "output",
        "processingGuarantees",
        "retainKeyOrdering",
        "secrets",
        "userConfig",
    ):
        assert one.get(key) == shipped.get(key), key
    assert fused["joiner"] == configs["joiner"] and fused["learner"] == configs["learner"]


def test_the_identity_loop_makes_one_keyed_prediction_and_example_per_event() -> None:
    configs = {
        name: yaml.safe_load((REPO / "pulsar-config" / f"{name}.yaml").read_text()) for name in FUNCTIONS
    }
    runner = Runner([define(FunctionFile(Path(f"<{n}>"), c)) for n, c in identity(configs).items()])
    runner.start()
    events, labels = runner.client.create_producer(configs["features"]["inputs"][0]), None
    labels = runner.client.create_producer(configs["joiner"]["userConfig"]["labels_topic"])
    for i in range(5):
        record = {"id": f"e{i}", "key": f"k{i % 2}", "ts": 100.0 + i, "x0": 0.5}
        events.send(orjson.dumps(record), partition_key=record["key"])
        labels.send(orjson.dumps({"id": f"e{i}", "label": True, "ts": 100.5 + i}), partition_key=f"e{i}")
    runner.pump()
    features = runner.client.messages(configs["features"]["output"])
    predictions = runner.client.messages(configs["scorer"]["output"])
    examples = runner.client.messages(configs["joiner"]["output"])
    assert [m.partition_key() for m in features] == ["k0", "k1", "k0", "k1", "k0"]  # the entity key
    assert [m.partition_key() for m in predictions] == [f"e{i}" for i in range(5)]  # the event id
    assert [m.partition_key() for m in examples] == [f"e{i}" for i in range(5)]  # one per event, no label
    assert runner.client.messages(configs["learner"]["output"]) == []  # the learner hop publishes nothing
    runner.stop()


def measured_rate(value: float, samples: int = 40, suspect: str | None = None) -> dict[str, Any]:
    rate = {"events_per_s": value, "samples": samples, "seconds": 12.0, "spread": 0.1, "messages": 10_000}
    return {**rate, "suspect": suspect} if suspect else rate


def loop(rate: float, near: int, p99_near: float, cpu: dict[str, float]) -> dict[str, Any]:
    """A section as ``Session.loop`` returns it."""
    return {
        "status": "ok",
        "events_per_s": rate,
        "predictions_per_s": rate,
        "latency_ms": {
            "100": {"p50": 10.0, "p99": 30.0, "n": 2000, "missing": 0},
            "500": {"p50": 20.0, "p99": 44.0, "n": 5000, "missing": 0},
            str(near): {"p50": 50.0, "p99": p99_near, "n": 5000, "missing": 0},
        },
        "near_saturation_rate": near,
        "cpu_us_per_event": cpu,
        "fixed_rate": 500,
        "load_avg": 1.0,
    }


def document() -> dict[str, Any]:
    """A full bench document as ``__main__`` writes it, with made-up numbers."""
    fast = "faster than the bare client loop (16,000 msg/s)"
    function = {
        **measured_rate(2_000.0),
        "ratio_to_identity": 0.5,
        "runs_ratio_to_identity": [0.5, 0.52],
        "runs": [measured_rate(2_000.0)],
    }
    sections: dict[str, Any] = {
        "ceiling": {"status": "ok", "events_per_s": 30_000.0, "us_per_event": 33.0, "cpu_us_per_event": 33.0},
        "embedded": {
            "status": "ok",
            "events_per_s": 6_000.0,
            "us_per_event": 160.0,
            "cpu_us_per_event": 160.0,
            "ratio_to_ceiling": 0.2,
        },
        "embedded_identity": {
            "status": "ok",
            "events_per_s": 1e5,
            "us_per_event": 10.0,
            "cpu_us_per_event": 10.0,
        },
        "joiner_memory": {
            "status": "ok",
            "rss_mb_full": 90.0,
            "rss_mb_empty": 60.0,
            "pending_per_side": 20_000,
            "kb_per_pending": 0.7,
        },
        "rebuild": {
            "status": "ok",
            "events": [100, 400],
            "events_per_cpu_s": [1000, 990],
            "ratio_large_to_small": 0.99,
        },
        "families": {"status": "ok"},
        "bare_client": {"status": "ok", "events_per_s": 16_000.0, "messages": 200_000, "seconds": 12.5},
        "identity_function": {
            "status": "ok",
            **measured_rate(9_000.0),
            "streamloop_identity": measured_rate(40_000.0, samples=3, suspect=fast),
            "streamloop_identity_ratio": 4.44,
        },
        "deployed_functions": {
            "status": "ok",
            "features": function,
            "scorer": {**function, "ratio_to_identity": 0.8},
        },
        "scaling": {
            "status": "ok",
            "features": {"1": 2_000.0, "2": 2_000.0, "speedup": 1.0, "parallel": measured_rate(2_000.0)},
            "scorer": {"1": 2_000.0, "2": 3_400.0, "speedup": 1.7, "parallel": measured_rate(3_400.0)},
        },
        "loop_latency": loop(
            1_600.0, 1_280, 1_031.0, {"broker": 300.0, "features": 200.0, "bench client": 50.0}
        ),
        "identity_loop": loop(
            2_000.0, 1_600, 80.0, {"broker": 250.0, "features": 25.0, "bench client": 50.0}
        ),
        "loop_key_batched": loop(
            800.0, 640, 2_062.0, {"broker": 600.0, "features": 200.0, "bench client": 50.0}
        ),
        "loop_dispatch_500": {"status": "skipped", "reason": "x"},
        "loop_state_1000": {"status": "skipped", "reason": "x"},
        "loop_fused": {"status": "skipped", "reason": "x"},
        "memory": {"status": "skipped", "reason": "x"},
        "startup": {"status": "skipped", "reason": "x"},
        "loop_partitions": {"status": "skipped", "reason": "x"},
        "cluster": {"status": "skipped", "reason": "x"},
    }
    return {
        "mode": "full",
        "workload": {"events": 20_000, "rounds": 5},
        "machine": {"cpus": 2, "load_avg": 1.0},
        "targets": report.targets(sections),
        "sections": sections,
    }


def test_each_target_is_a_ratio_of_one_run_with_its_standing() -> None:
    targets = document()["targets"]
    assert targets["loop_vs_identity_loop"] == {
        **targets["loop_vs_identity_loop"],
        "value": 0.8,
        "standing": "met",
    }
    assert (
        targets["functions_vs_identity"]["standing"] == "MISSED"
        and targets["functions_vs_identity"]["value"] == 0.5
    )
    assert targets["embedded_vs_ceiling"]["standing"] == "MISSED"
    near = targets["loop_p99_ms_near_saturation"]
    assert near["value"] == 1031.0 and near["standing"] == "MISSED"  # near saturation, not at 500 ev/s
    assert near["detail"] == "at 1280 ev/s; p99 44 ms at 500 ev/s"
    assert (
        targets["scaling_features"]["standing"] == "MISSED" and targets["scaling_scorer"]["standing"] == "met"
    )
    cpu = targets["loop_cpu_vs_identity_loop"]
    assert (
        cpu["value"] == pytest.approx(550 / 325, abs=1e-3)
        and cpu["standing"] == "reported"
        and cpu["met"] is None
    )


def test_a_target_on_a_skipped_section_is_skipped_and_one_on_suspect_rates_says_so() -> None:
    doc = document()
    sections = doc["sections"]
    sections["identity_loop"] = {"status": "skipped", "reason": "needs a broker"}
    sections["deployed_functions"]["scorer"]["runs"] = [
        measured_rate(2_000.0, samples=4, suspect="4 stats samples (< 20)")
    ]
    targets = report.targets(sections)
    for key in ("loop_vs_identity_loop", "loop_cpu_vs_identity_loop"):
        assert targets[key]["standing"] == "skipped" and targets[key]["reason"] == "needs a broker"
        assert targets[key]["met"] is None
    assert targets["functions_vs_identity"]["suspect"] == "4 stats samples (< 20)"
    assert "suspect" not in targets["embedded_vs_ceiling"]


def test_the_table_shows_the_identity_loop_beside_the_loop_and_every_flag() -> None:
    text = report.table(document())
    assert "Pulsar loop / identity loop, sustained ev/s" in text and "met" in text
    assert (
        "the shipped loop on Pulsar, sustained" in text and "the identity loop on Pulsar, sustained" in text
    )
    assert "total 550" in text and "total 325" in text
    lines = text.splitlines()
    lever = lines[
        next(i for i, line in enumerate(lines) if "predictions batched per key on Pulsar" in line) :
    ]
    over = next(line for line in lever if "over the shipped loop" in line)
    assert "rate x0.50" in over and "CPU/event x1.54" in over and "p99 near saturation x2.00" in over
    ours = next(line for line in text.splitlines() if line.lstrip().startswith("streamloop identity"))
    assert "SUSPECT: faster than the bare client loop (16,000 msg/s)" in ours and "3 samples" in ours
    features = next(line for line in text.splitlines() if "deployed features" in line)
    assert "40 samples over 12.0 s, spread 0.10" in features and "SUSPECT" not in features
    assert "bare pulsar-client consume→produce" in text and "200,000 messages in 12.5 s" in text
    assert "features parallelism 1 → 2" in text
