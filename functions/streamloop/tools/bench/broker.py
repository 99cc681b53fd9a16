"""The real-Pulsar measurements of issue 5, against the standalone of ``--admin-url``/``--service-url``
(``PULSAR_ADMIN_URL``/``PULSAR_SERVICE_URL``), with the bench's credential and TLS options.

Everything runs in a namespace of its own (``public/bench-<id>``, deleted at the end), each measurement on
topics and function names of its own. The inputs are the messages the embedded loop produces for the same
workload, so every function sees exactly what it would see in the loop. Each wait is bounded; nothing
but 127.0.0.1 (or the configured URLs) is contacted. Without a reachable broker, or in ``--quick`` mode,
every section is ``{"status": "skipped", "reason": ...}``.

Saturation: the input backlog is produced first, then the function is created; its rate is taken from
``functions stats`` (``processedSuccessfullyTotal``) between 10% and 90% of the backlog, so start-up is
not counted. Start-up is ``create`` → the first message processed. Every saturated run is sized by time
(:mod:`~streamloop.tools.bench.rates`): a pilot on the natural inputs gives a rate, and the measured run
repeats the inputs as fresh messages (:mod:`~streamloop.tools.bench.repeat`) until it lasts long enough
for many ``functions stats`` samples; each rate reports its samples, span and spread, and is flagged
``suspect`` when faster than the bare client loop (measured first) or read over too few samples. The
identity function runs again right before each deployed function, and each ratio is taken from that
pair, :data:`FUNCTION_ROUNDS` pairs per function (the median is reported): the rates of a shared 2-core
machine drift by ±30% over minutes, a pair measured back to back much less.

Each loop variant (:data:`~streamloop.tools.bench.variants.VARIANTS`: the shipped loop, ``loop_latency``,
and the identity loop, ``identity_loop``) runs with the same load generator. The shipped loop runs again
with its stream topics partitioned (``loop_partitions``, ``--partitions``), and the same runs are made on
the multi-node cluster of ``--cluster-*-url`` (``cluster``; skipped, with why, when it does not answer),
whose processes' CPU time is read through the pid files of ``--cluster-dir``.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pulsar
import yaml

from streamloop.runtime.keys import KeyStore
from streamloop.tools.admin import AdminError
from streamloop.tools.bench.brokersettings import dynamic_settings
from streamloop.tools.bench.compare import (
    PARALLEL_FUNCTIONS,
    PARALLELISM,
    PARTITIONED_TOPICS,
    cluster_to_standalone,
    summarise,
    with_ratios_to_one,
)
from streamloop.tools.bench.polling import drain, function_path, poll_processed
from streamloop.tools.bench.pulsar_io import (
    Produced,
    TopicMessages,
    consume_loop,
    cpu_seconds,
    instance_rss_mb,
    machine_busy_seconds,
    produce,
    server_pids,
)
from streamloop.tools.bench.rates import (
    HIGH,
    LOW,
    MIN_SAMPLES,
    SATURATE_SECONDS,
    combined,
    flagged,
    measured,
    repeats,
    seconds_for,
)
from streamloop.tools.bench.repeat import period, repeated
from streamloop.tools.bench.variants import SHIPPED, VARIANTS, Variant
from streamloop.tools.bench.workload import LABEL_DELAY
from streamloop.tools.connection import Connection
from streamloop.tools.deployment import with_keys
from streamloop.worker.modelsigning import SIGNATURE_PROPERTY, sign
from streamloop.worker.secretkeys import MODEL_SIGNING_KEY

SKIPPED = "needs a broker (make pulsar-up)"
NO_CLUSTER = "needs the cluster (packaging/cluster.sh up)"
NOT_ASKED = "not asked for (--no-cluster)"
QUICK = "not run in --quick mode (needs a broker and minutes)"
NAMES = (
    "identity_function",
    "bare_client",
    "deployed_functions",
    *(variant.section for variant in VARIANTS),
    "scaling",
    "memory",
    "startup",
    "loop_partitions",
    "cluster",
)
FUNCTIONS = ("features", "scorer", "joiner", "learner")
SATURATE_TIMEOUT = 180.0
FUNCTION_ROUNDS = 2  # identity/function pairs per function, after its pilot; the ratio is their median
RESIZES = 2  # a run drained over too few samples is sized again from its own rate, at most this often
ONCE = frozenset({"models"})  # inputs produced once however long the backlog (read, not processed)
LOOP_RATE = 500
RUN_OVERHEAD_SECONDS = 20.0  # planned_seconds: produce, create, start, delete of a saturated run
PILOT_SECONDS = 2.0  # ... a pilot's processing
LOOP_SECONDS = 120.0  # ... one loop run, its phases and drains
ADMIN_TIMEOUT = 30.0  # every admin call is bounded (30 s unless the call says otherwise)


def progress(text: str) -> None:
    print(f"[bench] broker: {text}", file=sys.stderr, flush=True)


def planned_seconds(partitions: int) -> float:
    """A rough duration of the standalone's sections: each saturated run's overhead (produce, create,
    start, delete) plus its nominal length, and each loop run (``partitions``: the shipped loop's counts);
    a run sized again (:data:`RESIZES`) adds to it.

    >>> round(planned_seconds(3) / 60)
    33
    """
    pilots = 2 + len(FUNCTIONS)  # the two identity functions', and each function's
    timed = 2 + 2 * FUNCTION_ROUNDS * len(FUNCTIONS) + 2  # identities, pairs, parallelism 2
    loops = len(VARIANTS) + partitions - 1
    measured_seconds = seconds_for(1.0) / (HIGH - LOW)  # a span of MIN_SAMPLES samples a second apart
    return (
        pilots * (RUN_OVERHEAD_SECONDS + PILOT_SECONDS)
        + timed * (RUN_OVERHEAD_SECONDS + measured_seconds)
        + loops * LOOP_SECONDS
    )


def plan(options: Any) -> str:
    """The estimate printed before a full run: the broker sections' minutes (the cluster's apart)."""
    minutes = planned_seconds(len(options.partitions)) / 60
    cluster = f", {len(options.partitions) * LOOP_SECONDS / 60:.0f} more if the cluster answers"
    return f"the broker sections: about {minutes:.0f} minutes{cluster if options.cluster else ''}"


def skipped_all(reason: str) -> dict[str, dict[str, Any]]:
    return {name: {"status": "skipped", "reason": reason} for name in NAMES}


def measure(options: Any, prepare: Callable[[], TopicMessages]) -> dict[str, dict[str, Any]]:
    """Every broker section (or every one skipped, with the reason); ``prepare`` gives the inputs.

    The standalone's sections first, then its loop at each ``options.partitions`` count (the 1-partition
    run is ``loop_latency``'s), then the same loop runs on the cluster (``cluster``) when it answers.
    """
    if options.quick:
        return skipped_all(QUICK)
    inputs: list[TopicMessages] = []

    def streams() -> TopicMessages:  # the embedded run behind the inputs, once for both targets
        if not inputs:
            inputs.append(prepare())
        return inputs[0]

    connection = Connection.from_args(options)
    reason = connection.admin(ADMIN_TIMEOUT).unavailable()
    if reason:
        out = skipped_all(f"{SKIPPED}: {reason}")
    else:
        session = Session(connection, Path(options.config_dir), streams())
        try:
            out = session.run_all()
            first = {1: out["loop_latency"]} if out["loop_latency"]["status"] == "ok" else {}
            out["loop_partitions"] = {"status": "ok", "runs": session.loop_runs(options.partitions, first)}
        finally:
            session.close()
    try:
        out["cluster"] = measure_cluster(options, streams, out["loop_partitions"])
    except Exception as error:  # the standalone's sections are kept
        out["cluster"] = {"status": "error", "reason": f"{type(error).__name__}: {error}"[:500]}
    return out


def measure_cluster(
    options: Any, streams: Callable[[], TopicMessages], standalone: dict[str, Any]
) -> dict[str, Any]:
    """The loop at each partition count on the cluster of ``--cluster-*-url``, beside the standalone's."""
    if not options.cluster:
        return {"status": "skipped", "reason": NOT_ASKED}
    connection = Connection(
        admin_url=options.cluster_admin_url,
        service_url=options.cluster_service_url,
        functions_url=options.cluster_functions_url,
    )
    reason = connection.admin(ADMIN_TIMEOUT).unavailable()
    if reason:
        return {"status": "skipped", "reason": f"{NO_CLUSTER}: {reason}"}
    servers = server_pids(options.cluster_dir)
    if not servers:
        progress(f"no pid files under {options.cluster_dir}/*/pid: the cluster's own CPU is not counted")
    session = Session(connection, Path(options.config_dir), streams(), servers=servers)
    try:
        runs = session.loop_runs(options.partitions)
    finally:
        session.close()
    section: dict[str, Any] = {
        "status": "ok",
        "service_url": options.cluster_service_url,
        "functions_url": options.cluster_functions_url,
        "processes": sorted(servers),
        "runs": runs,
    }
    if standalone["status"] == "ok":
        section["ratio_to_standalone"] = cluster_to_standalone(runs, standalone["runs"])
    return section


class Session:
    """One namespace, one package, one client: runs the sections in order and cleans up."""

    def __init__(
        self,
        connection: Connection,
        config_dir: Path,
        streams: TopicMessages,
        servers: dict[str, int] | None = None,
    ) -> None:
        self.servers = servers  # the cluster's {name: pid}; None: the local standalone
        self.admin = connection.admin(ADMIN_TIMEOUT)
        self.namespace = f"bench-{uuid.uuid4().hex[:8]}"
        self.streams = streams
        self.configs = {name: yaml.safe_load((config_dir / f"{name}.yaml").read_text()) for name in FUNCTIONS}
        self.keys = KeyStore()
        self.package = build_package(Path(f"/tmp/streamloop-bench-{self.namespace}"))
        self.admin.ensure_namespace(f"public/{self.namespace}")
        self.client = connection.pulsar_client(logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Warn))
        self.created: list[tuple[str, str]] = []  # (tenant/namespace, name)
        self.startup: dict[str, dict[str, float]] = {}
        self.rates: dict[str, float] = {}  # each function's median rate at parallelism 1
        self.estimates: dict[str, dict[str, Any]] = {}  # what sizes the next run of each function
        self.deployed: dict[str, dict[str, Any]] = {}  # deployed_functions' section, per function
        self.identity_rates: list[float] = []  # every run of the plain identity function
        self.bare_rate: float | None = None  # the bare client loop's messages/s, once measured

    def close(self) -> None:
        for function in self.created:
            with contextlib.suppress(AdminError):
                self.admin.delete_function(*function, timeout=60)
        namespace = f"public/{self.namespace}"
        with contextlib.suppress(AdminError):
            self.admin.wait_instances_gone(namespace, ["/".join(function) for function in self.created])
        self.client.close()
        # ~100 topics by the end of a full run, each deleted in turn (a topic still closing is retried)
        failed = self.admin.delete_namespace(namespace, within=180, timeout=60)
        if failed:
            progress(f"could not delete {namespace}: {failed}")

    def topic(self, prefix: str, name: str) -> str:
        return f"persistent://public/{self.namespace}/{prefix}-{name}"

    # -- the sections ------------------------------------------------------------------------------
    def run_all(self) -> dict[str, dict[str, Any]]:
        """The bare client first (every function rate is compared to it and sized by it), then the rest."""
        out: dict[str, dict[str, Any]] = {}
        loops = [(v.section, lambda v=v: self.loop(1, v)) for v in VARIANTS]
        for name, run in (
            ("bare_client", self.bare_client),
            ("identity_function", self.identity_function),
            ("deployed_functions", self.deployed_functions),
            ("scaling", self.scaling),
            *loops,
        ):
            progress(f"{name} …")
            try:
                out[name] = {"status": "ok", **run()}
            except Exception as error:  # a section that fails is reported, the others still run
                out[name] = {"status": "error", "reason": f"{type(error).__name__}: {error}"[:500]}
            progress(f"{name}: {out[name]}")
        if out["identity_function"]["status"] == "ok" and len(self.identity_rates) > 1:
            out["identity_function"]["runs_events_per_s"] = [round(r, 1) for r in self.identity_rates]
        out["startup"] = {"status": "ok", **self.startup} if self.startup else _missing("startup")
        memory = out.get("loop_latency", {}).pop("rss_mb", None)
        out["memory"] = {"status": "ok", **memory} if memory else _missing("memory")
        return out

    def bare_client(self) -> dict[str, Any]:
        """The bare consume → produce loop: a pilot on the events, then a backlog sized by its rate."""
        events = self.streams["events"]
        pilot = self.bare_run("bare-pilot", events, 1)
        times = repeats(pilot, len(events), SATURATE_SECONDS)
        self.bare_rate = self.bare_run("bare", events, times)
        return {
            "events_per_s": round(self.bare_rate, 1),
            "messages": times * len(events),
            "seconds": round(times * len(events) / self.bare_rate, 2),
            "pilot_events_per_s": round(pilot, 1),
        }

    def bare_run(self, prefix: str, messages: list[Produced], times: int) -> float:
        source, sink = self.topic(prefix, "in"), self.topic(prefix, "out")
        produce(self.client, source, repeated(messages, times, period([messages])))
        count = times * len(messages)
        return count / consume_loop(self.client, source, sink, count, timeout=SATURATE_TIMEOUT)

    def plain_config(self, prefix: str) -> dict[str, Any]:
        """The runtime's own identity function (returns its input, ``ATLEAST_ONCE``)."""
        return self.identity_config(prefix, "streamloop.tools.bench.plain.PlainIdentity", "ATLEAST_ONCE")

    def ours_config(self, prefix: str) -> dict[str, Any]:
        """streamloop's identity function (MANUAL acks, keyed outputs)."""
        return self.identity_config(prefix, "streamloop.tools.bench.identity.IdentityFunction", "MANUAL")

    def plain_identity(self, prefix: str) -> dict[str, Any]:
        """A time-sized run of the plain identity function on the events (sized by the previous one)."""
        rate = self.timed(prefix, self.plain_config, {"in": self.streams["events"]}, "identity")
        self.identity_rates.append(rate["events_per_s"])
        return rate

    def identity_function(self) -> dict[str, Any]:
        """The plain and streamloop identity functions, each a pilot and then a run sized by it."""
        events = {"in": self.streams["events"]}
        pilot = self.saturate(
            "plain-pilot", self.plain_config("plain-pilot"), events, startup_name="identity"
        )
        self.estimates["identity"] = pilot
        plain = self.plain_identity("plain")
        ours_pilot = self.saturate("ours-pilot", self.ours_config("ours-pilot"), events)
        self.estimates["ours"] = ours_pilot
        ours = self.timed("ours", self.ours_config, events, "ours")
        return {
            **plain,
            "pilot_events_per_s": pilot["events_per_s"],
            "streamloop_identity": {**ours, "pilot_events_per_s": ours_pilot["events_per_s"]},
            "streamloop_identity_events_per_s": ours["events_per_s"],
            "streamloop_identity_ratio": round(ours["events_per_s"] / plain["events_per_s"], 4),
        }

    def deployed_functions(self) -> dict[str, Any]:
        """Each function alone: a pilot, then ``FUNCTION_ROUNDS`` time-sized runs, each right after a
        time-sized identity run."""
        out: dict[str, Any] = {}
        for name, inputs in self.function_inputs().items():

            def config_of(prefix: str, name: str = name) -> dict[str, Any]:
                return self.function_config(name, prefix)

            pilot = self.saturate(f"pilot-{name}", config_of(f"pilot-{name}"), inputs, startup_name=name)
            self.estimates[name] = pilot
            pairs = []
            for r in range(FUNCTION_ROUNDS):
                identity = self.plain_identity(f"plain-{name}-{r}")
                pairs.append((self.timed(f"f-{name}-{r}", config_of, inputs, name), identity))
            ratios = [rate["events_per_s"] / identity["events_per_s"] for rate, identity in pairs]
            runs = [rate for rate, _ in pairs]
            identities = [
                {**i, "suspect": f"identity: {i['suspect']}"} if "suspect" in i else i for _, i in pairs
            ]
            self.rates[name] = statistics.median(rate["events_per_s"] for rate in runs)
            quality = combined(runs + identities)  # the pairs' fewest samples, widest spread, every doubt
            out[name] = {
                "events_per_s": round(self.rates[name], 1),
                **{key: value for key, value in quality.items() if key != "events_per_s"},
                "messages": runs[-1]["messages"],
                "pilot_events_per_s": pilot["events_per_s"],
                "ratio_to_identity": round(statistics.median(ratios), 4),
                "runs": runs,
                "identity_runs": [identity for _, identity in pairs],
                "runs_events_per_s": [rate["events_per_s"] for rate in runs],
                "runs_identity_events_per_s": [identity["events_per_s"] for _, identity in pairs],
                "runs_ratio_to_identity": [round(r, 4) for r in ratios],
            }
            self.deployed[name] = out[name]
        return out

    def scaling(self) -> dict[str, Any]:
        """Features and scorer at parallelism 2, sized by twice their rate at 1 (no pilot of their own)."""
        out: dict[str, Any] = {"cpus": os.cpu_count()}
        inputs = self.function_inputs()
        for name in ("features", "scorer"):

            def config_of(prefix: str, name: str = name) -> dict[str, Any]:
                return self.function_config(name, prefix, parallelism=2)

            one = self.rates.get(name)
            at_one = self.estimates[name]
            self.estimates[f"p2-{name}"] = {**at_one, "events_per_s": 2 * one} if one else at_one
            two = self.timed(f"p2-{name}", config_of, inputs[name], f"p2-{name}")
            at_one_runs = self.deployed.get(name, {}).get("runs", [])
            out[name] = {
                "1": None if one is None else round(one, 1),
                "2": two["events_per_s"],
                "parallel": two,
                "cores_busy_1": _median_of(r.get("machine_cores_busy") for r in at_one_runs),
                "cores_busy_2": two.get("machine_cores_busy"),
            }
            if one:
                out[name]["speedup"] = round(two["events_per_s"] / one, 3)
        return out

    def loop(self, partitions: int, variant: Variant = SHIPPED) -> dict[str, Any]:
        """The whole loop of ``variant`` on topics ``<its prefix>-*`` (``<prefix>-p<N>-*``:
        :data:`PARTITIONED_TOPICS` with ``N`` partitions, read by :data:`PARALLELISM` instances of
        :data:`PARALLEL_FUNCTIONS`), deleted after."""
        from streamloop.tools.bench.loop import run_loop_on_pulsar

        prefix = variant.prefix if partitions == 1 else f"{variant.prefix}-p{partitions}"
        partitioned = (
            frozenset(self.topic(prefix, t) for t in PARTITIONED_TOPICS) if partitions > 1 else frozenset()
        )
        for name in PARTITIONED_TOPICS if partitioned else ():
            self.admin.create_topic(f"public/{self.namespace}", f"{prefix}-{name}", partitions)
        configs = variant.transform(
            {
                name: self.function_config(
                    name, prefix, PARALLELISM if partitioned and name in PARALLEL_FUNCTIONS else 1
                )
                for name in FUNCTIONS
            }
        )
        load_avg = os.getloadavg()[0]
        progress(f"{variant.what}, {partitions} partition(s), load {load_avg:.2f}")
        names = [c["name"] for c in configs.values()]
        try:
            with dynamic_settings(self.admin, variant.broker_settings):
                for config in configs.values():
                    self.create(config)
                result = run_loop_on_pulsar(
                    self.client,
                    lambda name: self.topic(prefix, name),
                    self.streams,
                    configs,
                    rate=LOOP_RATE,
                    label_delay=LABEL_DELAY,
                    rss=lambda: {n: instance_rss_mb(self.namespace, c["name"]) for n, c in configs.items()},
                    drain=lambda timeout: drain(self.admin, configs.values(), timeout, partitioned),
                    cpu=lambda: cpu_seconds(self.namespace, names, self.servers),
                )
        finally:
            for function in [function_path(c) for c in configs.values() if function_path(c) in self.created]:
                with contextlib.suppress(AdminError):
                    self.admin.delete_function(*function, timeout=60)
                self.created.remove(function)
        return {**result, "partitions": partitions, "load_avg": round(load_avg, 2), "fixed_rate": LOOP_RATE}

    def loop_runs(
        self, partitions: Sequence[int], done: dict[int, dict[str, Any]] | None = None
    ) -> dict[str, dict[str, Any]]:
        """``{"<N>": summary}`` of the loop at each count (``done``: runs already made), with ratios to 1."""
        runs: dict[str, dict[str, Any]] = {}
        for count in partitions:
            try:
                loop = (done or {}).get(count) or self.loop(count)
                runs[str(count)] = summarise(loop, LOOP_RATE, loop["load_avg"])
            except Exception as error:  # one count that fails is reported, the others still run
                runs[str(count)] = {"status": "error", "reason": f"{type(error).__name__}: {error}"[:500]}
            progress(f"loop, {count} partition(s): {runs[str(count)]}")
        return with_ratios_to_one(runs)

    # -- helpers -------------------------------------------------------------------------------------
    def function_inputs(self) -> dict[str, dict[str, list[Produced]]]:
        s = self.streams
        return {
            "features": {"events": s["events"]},
            "scorer": {"models": [self.signed(m) for m in s["models"][-1:]], "features": s["features"]},
            "joiner": {"predictions": s["predictions"], "labels": s["labels"]},
            "learner": {"examples": s["examples"]},
        }

    def signed(self, model: Produced) -> Produced:
        """A model message of the embedded run, signed again with this namespace's key (its scorers')."""
        key, payload, properties = model
        stored = self.keys.key(f"public/{self.namespace}", MODEL_SIGNING_KEY)
        signature = sign(stored.value.encode(), key, payload)
        return key, payload, {**properties, SIGNATURE_PROPERTY: signature}

    def identity_config(self, prefix: str, class_name: str, guarantees: str) -> dict[str, Any]:
        source = self.topic(prefix, "in")
        return {
            "tenant": "public",
            "namespace": self.namespace,
            "name": f"{prefix}-identity",
            "className": class_name,
            "inputs": [source],
            "inputSpecs": {source: {"serdeClassName": "streamloop.worker.codec.RawBytes"}},
            "output": self.topic(prefix, "out"),
            "outputSerdeClassName": "streamloop.worker.codec.RawBytes",
            "processingGuarantees": guarantees,
            "subscriptionPosition": "Earliest",
            "parallelism": 1,
            "runtime": "PYTHON",
            "py": str(self.package),
            "userConfig": {
                "dead_letter_topic": self.topic(prefix, "dead-letters"),
                "metrics_topic": self.topic(prefix, "metrics"),
            },
        }

    def function_config(self, name: str, prefix: str, parallelism: int = 1) -> dict[str, Any]:
        """The demo's YAML for ``name`` moved into this namespace, onto topics named ``<prefix>-*``."""
        config = _retopic(
            copy.deepcopy(self.configs[name]), f"persistent://public/{self.namespace}/{prefix}-"
        )
        config.update(
            namespace=self.namespace,
            name=f"{prefix}-{name}",
            parallelism=parallelism,
            runtime="PYTHON",
            py=str(self.package),
        )
        return with_keys(config, self.keys)[0]  # the namespace's keys: one set per bench run

    def create(self, config: dict[str, Any]) -> float:
        """Create the function; returns the time just before the call (``time.monotonic``)."""
        started = time.monotonic()
        self.admin.create_function(config, self.package, timeout=120)
        self.created.append(function_path(config))
        return started

    def size(self, estimate: dict[str, Any], inputs: dict[str, list[Produced]]) -> int:
        """How many copies of ``inputs`` make a run as long as ``estimate`` (an earlier run) says."""
        seconds = seconds_for(estimate["sampling_s"])
        return repeats(estimate["events_per_s"], _count(inputs), seconds, self.bare_rate)

    def timed(
        self,
        prefix: str,
        config_of: Callable[[str], dict[str, Any]],
        inputs: dict[str, list[Produced]],
        key: str,
    ) -> dict[str, Any]:
        """A run sized by ``estimates[key]`` (a pilot, or the previous run of the same function), which it
        then replaces; sized again from its own rate (at most :data:`RESIZES` times) while it still drains
        over too few samples: a rate read off a few samples is too low, start-up falls in its first gap."""
        rate = self.saturate(prefix, config_of(prefix), inputs, self.size(self.estimates[key], inputs))
        for again in range(1, RESIZES + 1):
            resized = self.size(rate, inputs)
            if rate["samples"] >= MIN_SAMPLES or resized * _count(inputs) <= rate["messages"]:
                break
            rate = self.saturate(f"{prefix}-{again}", config_of(f"{prefix}-{again}"), inputs, resized)
        if math.isfinite(rate["events_per_s"]):
            self.estimates[key] = rate
        return rate

    def saturate(
        self,
        prefix: str,
        config: dict[str, Any],
        inputs: dict[str, list[Produced]],
        times: int = 1,
        startup_name: str | None = None,
    ) -> dict[str, Any]:
        """Produce ``times`` copies of the inputs (the models once), create the function, and return its
        processing rate with its samples, span and spread, flagged against the bare client loop."""
        shift = period(m for t, m in inputs.items() if t not in ONCE)
        for name, messages in inputs.items():
            produce(
                self.client,
                self.topic(prefix, name),
                messages if name in ONCE else repeated(messages, times, shift),
            )
        count = times * _count(inputs)
        function = function_path(config)
        busy = machine_busy_seconds()
        started = self.create(config)
        series = poll_processed(self.admin, function, count, started + SATURATE_TIMEOUT)
        cores = (machine_busy_seconds() - busy) / max(time.monotonic() - started, 1e-9)
        with contextlib.suppress(AdminError):
            self.admin.delete_function(*function, timeout=60)
        self.created.remove(function)
        first = next((t for t, n in series if n >= 1), None)
        if startup_name is not None and first is not None:
            self.startup[startup_name] = {"seconds": round(first - started, 2)}
        rate = {**flagged(measured(series, count), self.bare_rate), "machine_cores_busy": round(cores, 2)}
        done = series[-1][1] if series else 0
        progress(
            f"{config['name']}: {rate['events_per_s']:,.0f} messages/s ({done}/{count}, {rate['samples']}"
            f" samples over {rate['seconds']} s, spread {rate['spread']})"
        )
        return rate


def build_package(out_dir: Path) -> Path:
    """The code-only package ``streamloop deploy`` uploads: the worker's python3 has the dependencies."""
    from streamloop.tools.deployment import code_package

    return code_package(out_dir)


def _retopic(value: Any, prefix: str) -> Any:
    """Every ``persistent://public/default/<t>`` string in ``value`` renamed to ``<prefix><t>``."""
    if isinstance(value, str):
        return value.replace("persistent://public/default/", prefix)
    if isinstance(value, dict):
        return {_retopic(k, prefix): _retopic(v, prefix) for k, v in value.items()}
    if isinstance(value, list):
        return [_retopic(v, prefix) for v in value]
    return value


def _count(inputs: dict[str, list[Produced]]) -> int:
    """The messages a function processes of one copy of ``inputs`` (the models are read, not counted)."""
    return sum(len(messages) for name, messages in inputs.items() if name not in ONCE)


def _median_of(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 2) if present else None


def _missing(name: str) -> dict[str, Any]:
    return {"status": "error", "reason": f"{name}: not measured (see the other sections' errors)"}
