"""The broker bench's saturated sections wired end to end against a fake broker (no Pulsar, no clock).

The fake function processes its backlog at a set rate, sampled every half second by ``functions stats``:
a pilot on the natural inputs drains between a few samples, the measured run is sized to last.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamloop.tools.bench import broker, rates, report
from streamloop.tools.bench.embedded import topic_messages
from streamloop.tools.bench.pulsar_io import Produced
from streamloop.tools.bench.variants import VARIANTS
from streamloop.tools.bench.workload import Workload

REPO = Path(__file__).resolve().parents[1]
BARE = 1_600.0  # messages/s; a tenth of a real run's, so the backlogs stay small
RATES = {
    "PlainIdentity": 1_200.0,
    "IdentityFunction": 2_000.0,  # faster than the bare loop: what a drained-in-one-sample backlog claims
    "features": 200.0,
    "scorer": 150.0,
    "joiner": 300.0,
    "learner": 250.0,
}
SAMPLE_EVERY = 0.5


class FakeAdmin:
    def __init__(self) -> None:
        self.created: list[str] = []
        self.settings: dict[str, str] = {}

    def ensure_namespace(self, namespace: str) -> None:
        pass

    def create_function(self, config: dict[str, Any], package: Path, timeout: float) -> None:
        self.created.append(config["className"].rsplit(".", 1)[-1])

    def delete_function(self, namespace: str, name: str, timeout: float) -> bool:
        return True

    def dynamic_config(self) -> dict[str, str]:
        return dict(self.settings)

    def set_dynamic_config(self, name: str, value: str) -> None:
        self.settings[name] = value

    def delete_dynamic_config(self, name: str) -> None:
        del self.settings[name]

    def request(self, method: str, path: str, timeout: float) -> dict[str, str]:
        assert (method, path) == ("GET", "/admin/v2/brokers/configuration/runtime")
        return {"dispatcherMaxReadBatchSize": "100", **self.settings}


class FakeConnection:
    def __init__(self) -> None:
        self.fake = FakeAdmin()

    def admin(self, timeout: float) -> FakeAdmin:
        return self.fake

    def pulsar_client(self, **options: Any) -> Any:
        return object()


@pytest.fixture(scope="module")
def streams() -> dict[str, list[Produced]]:
    return topic_messages(Workload.demo(300, REPO / "pulsar-config"))


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch, streams: dict[str, list[Produced]]) -> Any:
    produced: dict[str, list[Produced]] = {}

    def produce(client: Any, topic: str, messages: Iterable[Produced]) -> None:
        produced[topic] = list(messages)

    def poll(
        admin: FakeAdmin, function: tuple[str, str], count: int, deadline: float
    ) -> list[tuple[float, int]]:
        name = admin.created[-1]
        rate = next(r for key, r in RATES.items() if key.lower() in name.lower())
        series = [(0.0, 0)]  # start-up: 5 s, then the backlog at ``rate``
        while series[-1][1] < count:
            t = series[-1][0] + SAMPLE_EVERY
            series.append((t, min(count, int(max(0.0, t - 5.0) * rate))))
        return series

    monkeypatch.setattr(broker, "produce", produce)
    monkeypatch.setattr(broker, "poll_processed", poll)
    monkeypatch.setattr(broker, "consume_loop", lambda client, source, sink, count, timeout: count / BARE)
    monkeypatch.setattr(broker, "build_package", lambda out_dir: Path("/nonexistent/package.zip"))
    s = broker.Session(FakeConnection(), REPO / "pulsar-config", streams)  # type: ignore[arg-type]
    s.produced = produced
    return s


def test_every_saturated_rate_is_sized_to_many_samples_and_flagged_against_the_bare_loop(
    session: Any,
) -> None:
    bare = session.bare_client()
    assert bare["events_per_s"] == BARE and bare["messages"] * 0.8 / BARE >= rates.SATURATE_SECONDS
    identity = session.identity_function()
    assert identity["pilot_events_per_s"] != identity["events_per_s"]  # the pilot drained in a few samples
    assert identity["events_per_s"] == pytest.approx(RATES["PlainIdentity"], rel=0.02)
    assert identity["samples"] >= rates.MIN_SAMPLES and "suspect" not in identity
    ours = identity["streamloop_identity"]
    assert ours["suspect"].startswith(f"faster than the bare client loop ({BARE:,.0f} msg/s)")


def test_each_function_is_timed_in_pairs_on_fresh_repeated_inputs(session: Any) -> None:
    session.bare_client()
    session.identity_function()
    functions = session.deployed_functions()
    features = functions["features"]
    assert features["events_per_s"] == pytest.approx(RATES["features"], rel=0.02)
    assert features["ratio_to_identity"] == pytest.approx(
        RATES["features"] / RATES["PlainIdentity"], rel=0.03
    )
    assert len(features["runs"]) == len(features["identity_runs"]) == broker.FUNCTION_ROUNDS
    assert features["samples"] >= rates.MIN_SAMPLES and features["messages"] > 300
    topics = session.produced
    predictions = topics[session.topic("f-joiner-0", "predictions")]
    labels = topics[session.topic("f-joiner-0", "labels")]
    ids = [orjson.loads(payload)["id"] for _, payload, _ in predictions]
    assert len(ids) == len(set(ids)) > len(session.streams["predictions"])  # repeated, every id fresh
    assert {orjson.loads(payload)["id"] for _, payload, _ in labels} == set(ids)  # every pair still matches
    models = topics[session.topic("f-scorer-0", "models")]
    assert len(models) == 1  # the model is not repeated
    scaling = session.scaling()
    assert scaling["features"]["speedup"] == pytest.approx(1.0, rel=0.03)
    assert scaling["features"]["parallel"]["samples"] >= rates.MIN_SAMPLES


def test_every_loop_variant_runs_with_its_configs_and_the_report_reads_the_whole_run(
    session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployed: dict[str, dict[str, str]] = {}
    scorer_batching: dict[str, tuple[Any, Any]] = {}
    broker_settings: dict[str, dict[str, str]] = {}

    def run_loop(client: Any, topic_of: Any, streams: Any, configs: dict[str, Any], **phases: Any) -> Any:
        classes = {name: config["className"] for name, config in configs.items()}
        deployed[topic_of("events")] = classes
        scorer = configs["scorer"]["userConfig"]
        scorer_batching[topic_of("events")] = (scorer.get("batch_by_key"), scorer.get("max_publish_delay_ms"))
        broker_settings[topic_of("events")] = session.admin.dynamic_config()
        hops = all(".hops." in c for c in classes.values())
        rate, cpu = (2_000.0, 100.0) if hops else (1_500.0, 300.0)
        return {
            "events_per_s": rate,
            "predictions_per_s": rate,
            "latency_ms": {"500": {"p50": 5.0, "p99": 9.0, "n": 10, "missing": 0}},
            "near_saturation_rate": 500,
            "cpu_us_per_event": {"broker": cpu, **{f"x-{name}": cpu for name in configs}},
            "functions": sorted(configs),
            "rss_mb": {name: {"rss_mb": 50.0} for name in configs},
        }

    monkeypatch.setattr("streamloop.tools.bench.loop.run_loop_on_pulsar", run_loop)
    sections = session.run_all()
    assert all(sections[name]["status"] == "ok" for name in ("loop_latency", "identity_loop")), sections
    assert set(deployed) == {session.topic(variant.prefix, "events") for variant in VARIANTS}
    assert scorer_batching[session.topic("loop", "events")] == (False, 10)  # the shipped scorer.yaml
    assert scorer_batching[session.topic("kbloop", "events")] == (True, 1)  # the lever's before
    assert broker_settings[session.topic("d5loop", "events")] == {"dispatcherMaxReadBatchSize": "500"}
    assert (
        broker_settings[session.topic("loop", "events")] == {} == session.admin.dynamic_config()
    )  # put back
    assert deployed[session.topic("idloop", "events")]["joiner"] == "streamloop.tools.bench.hops.JoinerHop"
    assert deployed[session.topic("loop", "events")]["joiner"] == "streamloop.worker.joiner.JoinerFunction"
    sections.update(
        loop_partitions={"status": "skipped", "reason": "x"}, cluster={"status": "skipped", "reason": "x"}
    )
    targets = report.targets({**sections, "embedded": {"status": "ok", "ratio_to_ceiling": 0.5}})
    assert (
        targets["loop_vs_identity_loop"]["value"] == 0.75
        and targets["loop_vs_identity_loop"]["standing"] == "met"
    )
    assert targets["loop_cpu_vs_identity_loop"]["value"] == 3.0
    assert targets["functions_vs_identity"]["standing"] == "MISSED"  # features 200 / identity 1,200
    assert "faster than the bare client loop" not in targets["functions_vs_identity"].get("suspect", "")
