"""The real-Pulsar measurements of issue 5, against the standalone of ``--admin-url``/``--service-url``
(``PULSAR_ADMIN_URL``/``PULSAR_SERVICE_URL``), with the bench's credential and TLS options.

Everything runs in a namespace of its own (``public/bench-<id>``, deleted at the end), each measurement on
topics and function names of its own. The inputs are the messages the embedded loop produces for the same
workload, so every function sees exactly what it would see in the loop. Each wait is bounded; nothing
but 127.0.0.1 (or the configured URLs) is contacted. Without a reachable broker, or in ``--quick`` mode,
every section is ``{"status": "skipped", "reason": ...}``.

Saturation: the input backlog is produced first, then the function is created; its rate is taken from
``functions stats`` (``processedSuccessfullyTotal``) between 10% and 90% of the backlog, so start-up is
not counted. Start-up is ``create`` → the first message processed. The identity function runs again
right before each deployed function, and each ratio is taken from that pair, three pairs per function
(the median is reported): the rates of a shared 2-core machine drift by ±30% over minutes, a pair
measured back to back much less.

The whole loop (``loop_latency``) runs again with its stream topics partitioned (``loop_partitions``,
``--partitions``), and the same runs are made on the multi-node cluster of ``--cluster-*-url``
(``cluster``; skipped, with why, when it does not answer), whose processes' CPU time is read through the
pid files of ``--cluster-dir``.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Sequence, Set
from pathlib import Path
from typing import Any

import pulsar
import yaml

from streamloop.runtime.keys import KeyStore
from streamloop.tools.admin import Admin, AdminError, rest_path
from streamloop.tools.bench.compare import (
    PARALLEL_FUNCTIONS,
    PARALLELISM,
    PARTITIONED_TOPICS,
    cluster_to_standalone,
    summarise,
    with_ratios_to_one,
)
from streamloop.tools.bench.pulsar_io import (
    Produced,
    TopicMessages,
    consume_loop,
    cpu_seconds,
    instance_rss_mb,
    produce,
    server_pids,
)
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
    "loop_latency",
    "scaling",
    "memory",
    "startup",
    "loop_partitions",
    "cluster",
)
FUNCTIONS = ("features", "scorer", "joiner", "learner")
SATURATE_TIMEOUT = 180.0
FUNCTION_ROUNDS = 3  # identity/function pairs per function; the ratio reported is their median
LOOP_RATE = 500
ADMIN_TIMEOUT = 30.0  # every admin call is bounded (30 s unless the call says otherwise)


def progress(text: str) -> None:
    print(f"[bench] broker: {text}", file=sys.stderr, flush=True)


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
        self.rates: dict[str, float] = {}
        self.identity_rates: list[float] = []  # every run of the plain identity function

    def close(self) -> None:
        for function in self.created:
            with contextlib.suppress(AdminError):
                self.admin.delete_function(*function, timeout=60)
        self.client.close()
        failed = self.admin.delete_namespace(f"public/{self.namespace}", within=60, timeout=60)
        if failed:
            progress(f"could not delete public/{self.namespace}: {failed}")

    def topic(self, prefix: str, name: str) -> str:
        return f"persistent://public/{self.namespace}/{prefix}-{name}"

    # -- the sections ------------------------------------------------------------------------------
    def run_all(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for name, run in (
            ("identity_function", self.identity_function),
            ("bare_client", self.bare_client),
            ("deployed_functions", self.deployed_functions),
            ("scaling", self.scaling),
            ("loop_latency", self.loop_latency),
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

    def plain_identity(self, run: str = "plain") -> float:
        """The runtime's own identity function (returns its input, ``ATLEAST_ONCE``): messages/s."""
        payloads = self.streams["events"]
        config = self.identity_config(run, "streamloop.tools.bench.plain.PlainIdentity", "ATLEAST_ONCE")
        rate = self.saturate(run, config, {"in": payloads}, len(payloads), startup_name="identity")
        self.identity_rates.append(rate)
        return rate

    def identity_function(self) -> dict[str, Any]:
        payloads = self.streams["events"]
        plain = self.plain_identity()
        ours = self.saturate(
            "ours",
            self.identity_config("ours", "streamloop.tools.bench.identity.IdentityFunction", "MANUAL"),
            {"in": payloads},
            len(payloads),
        )
        return {
            "events_per_s": round(plain, 1),
            "streamloop_identity_events_per_s": round(ours, 1),
            "streamloop_identity_ratio": round(ours / plain, 4),
            "messages": len(payloads),
        }

    def bare_client(self) -> dict[str, Any]:
        payloads = self.streams["events"]
        source, sink = self.topic("bare", "in"), self.topic("bare", "out")
        produce(self.client, source, payloads)
        seconds = consume_loop(self.client, source, sink, len(payloads), timeout=SATURATE_TIMEOUT)
        return {"events_per_s": round(len(payloads) / seconds, 1), "messages": len(payloads)}

    def deployed_functions(self) -> dict[str, Any]:
        """Each function alone, ``FUNCTION_ROUNDS`` times, each time right after an identity run."""
        out: dict[str, Any] = {}
        for name, inputs in self.function_inputs().items():
            count = sum(len(m) for t, m in inputs.items() if t != "models")  # models: read, not consumed
            pairs = []
            for r in range(FUNCTION_ROUNDS):
                identity = self.plain_identity(f"plain-{name}-{r}")
                config = self.function_config(name, f"f-{name}-{r}")
                rate = self.saturate(f"f-{name}-{r}", config, inputs, count, startup_name=name)
                pairs.append((rate, identity))
            ratios = [rate / identity for rate, identity in pairs]
            self.rates[name] = statistics.median(rate for rate, _ in pairs)
            out[name] = {
                "events_per_s": round(self.rates[name], 1),
                "messages": count,
                "ratio_to_identity": round(statistics.median(ratios), 4),
                "runs_events_per_s": [round(rate, 1) for rate, _ in pairs],
                "runs_identity_events_per_s": [round(identity, 1) for _, identity in pairs],
                "runs_ratio_to_identity": [round(r, 4) for r in ratios],
            }
        return out

    def scaling(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        inputs = self.function_inputs()
        for name in ("features", "scorer"):
            count = sum(len(m) for t, m in inputs[name].items() if t != "models")
            config = self.function_config(name, f"p2-{name}", parallelism=2)
            two = self.saturate(f"p2-{name}", config, inputs[name], count)
            one = self.rates.get(name)
            out[name] = {"1": None if one is None else round(one, 1), "2": round(two, 1)}
            if one:
                out[name]["speedup"] = round(two / one, 3)
        return out

    def loop_latency(self) -> dict[str, Any]:
        return self.loop(1)

    def loop(self, partitions: int) -> dict[str, Any]:
        """The whole loop on topics ``loop-*`` (``loop-p<N>-*``: :data:`PARTITIONED_TOPICS` with ``N``
        partitions, read by :data:`PARALLELISM` instances of :data:`PARALLEL_FUNCTIONS`), deleted after."""
        from streamloop.tools.bench.loop import run_loop_on_pulsar

        prefix = "loop" if partitions == 1 else f"loop-p{partitions}"
        partitioned = (
            frozenset(self.topic(prefix, t) for t in PARTITIONED_TOPICS) if partitions > 1 else frozenset()
        )
        for name in PARTITIONED_TOPICS if partitioned else ():
            self.admin.create_topic(f"public/{self.namespace}", f"{prefix}-{name}", partitions)
        configs = {
            name: self.function_config(
                name, prefix, PARALLELISM if partitioned and name in PARALLEL_FUNCTIONS else 1
            )
            for name in FUNCTIONS
        }
        load_avg = os.getloadavg()[0]
        progress(f"loop, {partitions} partition(s), load {load_avg:.2f}")
        try:
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
                cpu=lambda: cpu_seconds(self.namespace, [c["name"] for c in configs.values()], self.servers),
            )
        finally:
            for function in [function_path(c) for c in configs.values() if function_path(c) in self.created]:
                with contextlib.suppress(AdminError):
                    self.admin.delete_function(*function, timeout=60)
                self.created.remove(function)
        return {**result, "partitions": partitions, "load_avg": round(load_avg, 2)}

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

    def saturate(
        self,
        prefix: str,
        config: dict[str, Any],
        inputs: dict[str, list[Produced]],
        count: int,
        startup_name: str | None = None,
    ) -> float:
        """Produce the backlog, create the function, and return its processing rate (messages/s)."""
        for name, messages in inputs.items():
            produce(self.client, self.topic(prefix, name), messages)
        function = function_path(config)
        started = self.create(config)
        series = _poll_processed(self.admin, function, count, started + SATURATE_TIMEOUT)
        with contextlib.suppress(AdminError):
            self.admin.delete_function(*function, timeout=60)
        self.created.remove(function)
        first = next((t for t, n in series if n >= 1), None)
        if startup_name is not None and first is not None:
            self.startup[startup_name] = {"seconds": round(first - started, 2)}
        rate = steady_rate(series, count)
        progress(f"{config['name']}: {rate:,.0f} messages/s ({series[-1][1] if series else 0}/{count})")
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


def function_path(config: dict[str, Any]) -> tuple[str, str]:
    """``(tenant/namespace, name)`` of a FunctionConfig."""
    return f"{config['tenant']}/{config['namespace']}", config["name"]


def _poll_processed(
    admin: Admin, function: tuple[str, str], count: int, deadline: float
) -> list[tuple[float, int]]:
    """``(time, processedSuccessfullyTotal)`` every 0.1 s until ``count`` or ``deadline``."""
    series: list[tuple[float, int]] = []
    while time.monotonic() < deadline:
        try:
            stats = admin.function_stats(*function, timeout=10)
            series.append((time.monotonic(), int(stats.get("processedSuccessfullyTotal") or 0)))
        except AdminError:
            pass  # not scheduled yet
        if series and series[-1][1] >= count:
            break
        time.sleep(0.1)
    return series


def steady_rate(series: Sequence[tuple[float, int]], count: int) -> float:
    """Messages/s between the moments 10% and 90% of ``count`` were processed (interpolated).

    Start-up comes before the first progress, so it is not counted; a slow ``functions stats`` call
    (a coarse series) still gives the average rate of the samples around those moments.
    """
    low, high = _crossing(series, 0.1 * count), _crossing(series, 0.9 * count)
    if low is None or high is None or high <= low:
        return float("nan")
    return 0.8 * count / (high - low)


def _crossing(series: Sequence[tuple[float, int]], level: float) -> float | None:
    """When the processed count reached ``level``, interpolated between the samples around it."""
    for (t0, n0), (t1, n1) in itertools.pairwise(series):
        if n0 < level <= n1:
            return t0 + (t1 - t0) * (level - n0) / (n1 - n0)
    return None


def drain(
    admin: Admin, configs: Iterable[dict[str, Any]], timeout: float, partitioned: Set[str] = frozenset()
) -> bool:
    """Wait until each function has processed every message published to its inputs (``False``: timed out).

    Between the loop's phases, so a phase's latencies are not those of the previous phase's backlog.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if all(_processed(admin, c) >= _published(admin, c, partitioned) for c in configs):
                return True
        except AdminError:
            pass
        time.sleep(1.0)  # each check is ~10 admin calls: polling faster costs the broker CPU it measures
    return False


def _processed(admin: Admin, config: dict[str, Any]) -> int:
    stats = admin.function_stats(*function_path(config), timeout=10)
    return int(stats.get("processedSuccessfullyTotal") or 0)


def _published(admin: Admin, config: dict[str, Any], partitioned: Set[str]) -> int:
    """Messages published to the function's inputs (a partitioned topic's: summed over its partitions)."""
    total = 0
    for topic in config["inputs"]:
        if topic in partitioned:
            stats = admin.request("GET", f"{rest_path(topic)}/partitioned-stats", timeout=10) or {}
        else:
            stats = admin.topic_stats(topic, timeout=10)
        total += int(stats.get("msgInCounter") or 0)
    return total


def _missing(name: str) -> dict[str, Any]:
    return {"status": "error", "reason": f"{name}: not measured (see the other sections' errors)"}


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """p50 and p99 of ``values`` (milliseconds), rounded."""
    ordered = sorted(values)
    if not ordered:
        return {"p50": float("nan"), "p99": float("nan"), "n": 0}
    pick: Callable[[float], float] = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50": round(statistics.median(ordered), 2), "p99": round(pick(0.99), 2), "n": len(ordered)}
