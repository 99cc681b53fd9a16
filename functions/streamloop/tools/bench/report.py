"""The bench document (``out/bench.json``) and its table: targets and ratios first, then throughputs.

Every section is ``{"status": "ok", ...}`` or ``{"status": "skipped", "reason": ...}``; a target whose
section is skipped is reported as skipped, never as met or missed.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from streamloop.tools.bench.compare import PARALLEL_FUNCTIONS as PARTITIONED
from streamloop.tools.bench.variants import SHIPPED, VARIANTS

Sections = dict[str, dict[str, Any]]


def _embedded_ratio(sections: Sections) -> float | None:
    return sections["embedded"].get("ratio_to_ceiling")


def _worst_function_ratio(sections: Sections) -> float | None:
    """The lowest ratio; NaN (the target missed) if any function never finished its backlog."""
    functions = sections["deployed_functions"]
    ratios = [f["ratio_to_identity"] for name, f in functions.items() if isinstance(f, dict)]
    if any(r is None or math.isnan(r) for r in ratios):
        return math.nan
    return min(ratios) if ratios else None


def _ratio(value: float | None, base: float | None) -> float | None:
    """``value / base``; ``None`` when either is missing or ``base`` is zero or NaN."""
    if value is None or not base or math.isnan(base):
        return None
    return value / base


def _loop_vs_identity_loop(sections: Sections) -> float | None:
    return _ratio(sections["loop_latency"].get("events_per_s"), sections["identity_loop"].get("events_per_s"))


def _near_saturation(loop: dict[str, Any]) -> tuple[int | None, dict[str, Any]]:
    """The loop's near-saturation rate and its latencies (empty if it was not measured)."""
    near = loop.get("near_saturation_rate")
    return near, loop.get("latency_ms", {}).get(str(near), {})


def _loop_p99(sections: Sections) -> float | None:
    return _near_saturation(sections["loop_latency"])[1].get("p99")


def _loop_p99_detail(sections: Sections) -> str:
    """The rate the p99 was read at, and the p99 at the fixed rate beside it."""
    loop = sections["loop_latency"]
    near, _ = _near_saturation(loop)
    fixed = str(loop.get("fixed_rate", 500))
    at_fixed = loop.get("latency_ms", {}).get(fixed, {}).get("p99")
    return f"at {near} ev/s; p99 {_ms(at_fixed)} ms at {fixed} ev/s"


def _speedup(name: str) -> Callable[[Sections], float | None]:
    return lambda sections: (sections["scaling"].get(name) or {}).get("speedup")


def _cores(scaling: dict[str, Any], name: str) -> str:
    """How many of the machine's cores every process kept busy at parallelism 1 and 2: a second instance
    can only go faster on a core the first run left idle.

    >>> _cores({"cpus": 2, "features": {"cores_busy_1": 1.9, "cores_busy_2": 2.0}}, "features")
    'cores busy 1.90 → 2.00 of 2'
    """
    rates = scaling.get(name) or {}
    one, two = rates.get("cores_busy_1"), rates.get("cores_busy_2")
    text = " → ".join("–" if v is None else f"{v:.2f}" for v in (one, two))
    return f"cores busy {text} of {scaling.get('cpus')}"


def _scaling_detail(name: str) -> Callable[[Sections], str]:
    return lambda sections: _cores(sections["scaling"], name)


def _total_cpu(loop: dict[str, Any]) -> float | None:
    cpu = loop.get("cpu_us_per_event")
    return sum(cpu.values()) if cpu else None


def _cpu_vs_identity_loop(sections: Sections) -> float | None:
    return _ratio(_total_cpu(sections["loop_latency"]), _total_cpu(sections["identity_loop"]))


def _cpu_detail(sections: Sections) -> str:
    loop, identity = (_total_cpu(sections[name]) for name in ("loop_latency", "identity_loop"))
    return f"{_ms(loop)} vs {_ms(identity)} CPU µs/event (every process)"


@dataclass(frozen=True)
class Target:
    """One target of issue 17, read from one run: ``comparison`` ``">="``/``"<="`` ``threshold``, or
    ``""`` for a ratio reported without one; ``sections``: what it needs (skipped unless all are ok)."""

    key: str
    what: str
    comparison: str
    threshold: float | None
    sections: tuple[str, ...]
    read: Callable[[Sections], float | None]
    detail: Callable[[Sections], str] | None = None
    rests_on: Callable[[Sections], Any] | None = None
    """What its ``suspect`` reasons are gathered from (default: all of ``sections``)."""


TARGETS = (
    Target("loop_vs_identity_loop", "Pulsar loop / identity loop, sustained ev/s", ">=", 0.70,
           ("loop_latency", "identity_loop"), _loop_vs_identity_loop),
    Target("functions_vs_identity", "deployed function / identity function (worst)", ">=", 0.70,
           ("deployed_functions",), _worst_function_ratio),
    Target("embedded_vs_ceiling", "embedded whole loop / library-chain ceiling", ">=", 0.60,
           ("embedded",), _embedded_ratio),
    Target("loop_p99_ms_near_saturation", "Pulsar loop p99 event→prediction, 80% of sustained (ms)", "<=",
           100.0, ("loop_latency",), _loop_p99, _loop_p99_detail),
    Target("scaling_features", "features parallelism 2 / parallelism 1", ">=", 1.6, ("scaling",),
           _speedup("features"), _scaling_detail("features"),
           rests_on=lambda sections: sections["scaling"].get("features")),
    Target("scaling_scorer", "scorer parallelism 2 / parallelism 1", ">=", 1.6, ("scaling",),
           _speedup("scorer"), _scaling_detail("scorer"),
           rests_on=lambda sections: sections["scaling"].get("scorer")),
    Target("loop_cpu_vs_identity_loop", "Pulsar loop / identity loop, CPU per event", "", None,
           ("loop_latency", "identity_loop"), _cpu_vs_identity_loop, _cpu_detail),
)  # fmt: skip


def suspects(value: Any) -> list[str]:
    """Every ``suspect`` reason anywhere in ``value`` (a section), each once, in order.

    >>> suspects({"a": {"suspect": "x; y", "runs": [{"suspect": "y"}, {"suspect": "x"}]}, "b": 1})
    ['x', 'y']
    """
    found: list[str] = []
    if isinstance(value, dict):
        if isinstance(value.get("suspect"), str):
            found += value["suspect"].split("; ")  # several runs' reasons, joined
        for item in value.values():
            found += suspects(item)
    elif isinstance(value, list):
        for item in value:
            found += suspects(item)
    return list(dict.fromkeys(found))


def skipped(reason: str) -> dict[str, Any]:
    return {"status": "skipped", "reason": reason}


def throughput(runs: list[tuple[float, float]], events: int) -> dict[str, Any]:
    """Rates over the ``(wall, cpu)`` seconds of each run: medians, and every run's wall-clock rate.

    ``events_per_s`` is wall-clock; ``events_per_cpu_s`` counts this process's CPU time only, so another
    process sharing the machine does not lower it (every local measurement is single-threaded).
    """
    wall = [events / w for w, _ in runs]
    cpu = statistics.median(events / c for _, c in runs)
    median = statistics.median(wall)
    return {
        "events_per_s": round(median, 1),
        "events_per_cpu_s": round(cpu, 1),
        "us_per_event": round(1e6 / median, 2),
        "cpu_us_per_event": round(1e6 / cpu, 2),
        "runs_events_per_s": [round(r, 1) for r in wall],
    }


def targets(sections: Sections) -> dict[str, dict[str, Any]]:
    """Each target of issue 17: its value, its ``standing`` (met, MISSED, reported, skipped, or not
    measured), why it was skipped, and the ``suspect`` reasons of the rates it rests on."""
    out: dict[str, dict[str, Any]] = {}
    for t in TARGETS:
        entry: dict[str, Any] = {
            "what": t.what,
            "target": f"{t.comparison} {t.threshold:g}" if t.comparison else "–",
        }
        missing = [sections[name] for name in t.sections if sections[name]["status"] != "ok"]
        if missing:
            entry.update(value=None, met=None, standing="skipped", reason=missing[0].get("reason"))
            out[t.key] = entry
            continue
        value = t.read(sections)
        if value is None:
            met, standing = None, "not measured"
        elif not t.comparison:
            met, standing = None, "reported"
        else:
            assert t.threshold is not None
            met = value >= t.threshold if t.comparison == ">=" else value <= t.threshold
            standing = "met" if met else "MISSED"
        entry.update(value=None if value is None else round(value, 3), met=met, standing=standing)
        if t.detail is not None:
            entry["detail"] = t.detail(sections)
        basis = t.rests_on(sections) if t.rests_on else [sections[name] for name in t.sections]
        if reasons := suspects(basis):
            entry["suspect"] = "; ".join(reasons)
        out[t.key] = entry
    return out


def _rate(section: dict[str, Any]) -> str:
    if section["status"] != "ok":
        return f"skipped: {section['reason']}"
    return (
        f"{section['events_per_s']:>10,.0f} ev/s {section['us_per_event']:>9.1f} µs/event "
        f"{section['cpu_us_per_event']:>9.1f} CPU µs/event"
    )


def table(doc: dict[str, Any]) -> str:
    """The readable summary: targets (ratios) first, then every section."""
    workload = doc["workload"]
    lines = [
        f"streamloop bench ({doc['mode']}): {workload['events']} events, {workload['rounds']} rounds, "
        f"{doc['machine']['cpus']} CPUs, load {doc['machine']['load_avg']}",
        "",
        "targets (ratios of runs measured side by side in this run, median of rounds)",
    ]
    for entry in doc["targets"].values():
        value = "–" if entry["value"] is None else f"{entry['value']:g}"
        state = entry["standing"] + (f": {entry['reason']}" if entry.get("reason") else "")
        state += f"  ({entry['detail']})" if entry.get("detail") else ""
        state += f"  SUSPECT: {entry['suspect']}" if entry.get("suspect") else ""
        lines.append(f"  {entry['what']:<56} {value:>8}  {entry['target']:<8} {state}")
    sections = doc["sections"]
    lines += ["", "throughput"]
    ceiling = sections["ceiling"]
    lines.append(f"  {'library-chain ceiling':<40} {_rate(ceiling)}")
    for step, us in ceiling.get("breakdown_cpu_us_per_event", {}).items():
        lines.append(f"    {step:<38} {us:>30.2f} µs/event")
    lines.append(f"  {'embedded runner whole loop':<40} {_rate(sections['embedded'])}")
    lines.append(f"  {'embedded identity function (1 hop)':<40} {_rate(sections['embedded_identity'])}")
    memory = sections["joiner_memory"]
    lines.append(
        f"  {'joiner RSS, full pending set (MB)':<40} {memory['rss_mb_full']:>10,.1f}"
        f"  ({memory['pending_per_side']:,} per side, {memory['kb_per_pending']:.2f} kB each; "
        f"{memory['rss_mb_empty']:,.1f} empty)"
    )
    lines += _rebuild_lines(sections["rebuild"])
    lines += _broker_lines(sections)
    lines += loop_target_lines(sections)
    lines += _family_lines(sections["families"])
    return "\n".join(lines)


def _rebuild_lines(section: dict[str, Any]) -> list[str]:
    """``streamloop rebuild``'s rate at two history sizes, and their ratio (1: linear)."""
    (small, large), (fast, slow) = section["events"], section["events_per_cpu_s"]
    return [
        f"  {'rebuild (point in time + join), CPU':<40} {small:,} events {fast:,} ev/s; {large:,} events "
        f"{slow:,} ev/s (ratio {section['ratio_large_to_small']:.2f}; 1 = linear)"
    ]


def _family_lines(section: dict[str, Any]) -> list[str]:
    """One line per model family: the learner's rate, and ONNX beside river per row."""
    lines = ["", "model families (CPU time; learner: predict, learn, and an export per promotion)"]
    for name, family in section.items():
        if isinstance(family, dict):
            lines.append(
                f"  {name:<24} learner {family['learner_examples_per_cpu_s']:>9,.0f} examples/s"
                f"  export {family['export_ms']:>7.2f} ms {family['onnx_bytes']:>10,} B"
                f"  scorer ONNX {family['onnx_us_per_row']:>7.1f} µs/row"
                f"  river {family['river_us_per_row']:>7.1f} µs/row"
            )
    return lines


def quality(rate: dict[str, Any]) -> str:
    """What a saturated rate rests on: its samples, span and spread, and SUSPECT with why.

    >>> quality({"samples": 3, "seconds": 0.9, "spread": None, "suspect": "3 stats samples (< 20)"})
    '  (3 samples over 0.9 s, spread –)  SUSPECT: 3 stats samples (< 20)'
    """
    spread = "–" if rate.get("spread") is None else f"{rate['spread']:.2f}"
    text = f"  ({rate['samples']} samples over {rate['seconds']:.1f} s, spread {spread})"
    return text + (f"  SUSPECT: {rate['suspect']}" if rate.get("suspect") else "")


def _broker_lines(sections: Sections) -> list[str]:
    """The real-Pulsar sections, one line each (or why they did not run)."""
    lines: list[str] = []

    def state(name: str) -> dict[str, Any] | None:
        section = sections[name]
        if section["status"] != "ok":
            lines.append(f"  {name.replace('_', ' '):<40} {section['status']}: {section.get('reason')}")
            return None
        return section

    if bare := state("bare_client"):
        lines.append(
            f"  {'bare pulsar-client consume→produce':<40} {bare['events_per_s']:>10,.0f} msg/s"
            f"  ({bare['messages']:,} messages in {bare['seconds']:.1f} s)"
        )
    if identity := state("identity_function"):
        lines.append(
            f"  {'identity function on the worker':<40} {identity['events_per_s']:>10,.0f} msg/s"
            + quality(identity)
        )
        ours = identity["streamloop_identity"]
        lines.append(
            f"  {'streamloop identity (MANUAL, keyed)':<40} {ours['events_per_s']:>10,.0f}"
            f" msg/s  ratio {identity['streamloop_identity_ratio']:.2f}" + quality(ours)
        )
    if functions := state("deployed_functions"):
        for name, f in functions.items():
            if isinstance(f, dict):
                runs = " / ".join(f"{r:.2f}" for r in f["runs_ratio_to_identity"])
                lines.append(
                    f"  {'deployed ' + name + ' (alone, saturated)':<40} {f['events_per_s']:>10,.0f} msg/s"
                    f"  ratio to identity {f['ratio_to_identity']:.2f} (pairs {runs})" + quality(f)
                )
    if scaling := state("scaling"):
        for name, rates in scaling.items():
            if isinstance(rates, dict):
                lines.append(
                    f"  {name + ' parallelism 1 → 2':<40} {rates['1'] or 0:>10,.0f} → {rates['2']:,.0f} msg/s"
                    f"  (x{rates.get('speedup', 0):.2f}; {_cores(scaling, name)})"
                    + quality(rates["parallel"])
                )
    for variant in VARIANTS:
        if loop := state(variant.section):
            lines += _loop_lines(variant.what, loop)
            if variant is not SHIPPED and sections[SHIPPED.section]["status"] == "ok":
                lines.append(_versus_shipped(loop, sections[SHIPPED.section]))
    if memory := state("memory"):
        text = ", ".join(
            f"{n} {m['rss_mb']:.0f}" for n, m in memory.items() if isinstance(m, dict) and m["rss_mb"]
        )
        lines.append(f"  {'RSS per instance (MB)':<40} {text}")
    if startup := state("startup"):
        text = ", ".join(f"{n} {s['seconds']:.1f}" for n, s in startup.items() if isinstance(s, dict))
        lines.append(f"  {'create → first message processed (s)':<40} {text}")
    return lines


def _loop_lines(what: str, loop: dict[str, Any]) -> list[str]:
    """One loop variant: its sustained rate, latencies at each phase's rate, and CPU per event."""
    lines = [
        f"  {what + ' on Pulsar, sustained':<40} {loop['events_per_s']:>10,.0f} ev/s"
        f"  (predictions alone {loop.get('predictions_per_s', 0):,.0f}/s)"
    ]
    for rate, latency in loop["latency_ms"].items():
        lines.append(
            f"  {'  event→prediction at ' + rate + ' ev/s':<40} p50 {latency['p50']:>8,.1f} ms"
            f"  p99 {latency['p99']:>8,.1f} ms  (n={latency['n']}, missing {latency['missing']})"
        )
    if cpu := loop.get("cpu_us_per_event"):
        text = ", ".join(f"{name} {us:,.0f}" for name, us in cpu.items())
        lines.append(f"  {'  CPU µs per event (saturated)':<40} {text}; total {sum(cpu.values()):,.0f}")
        lines.append(f"  {'  cores the loop needs at 500 ev/s':<40} {sum(cpu.values()) * 500 / 1e6:>10.2f}")
    return lines


def versus_shipped(loop: dict[str, Any], shipped: dict[str, Any]) -> dict[str, float | None]:
    """A variant's sustained rate, whole-loop CPU per event and p99 near saturation over the shipped
    loop's, measured in the same run (a lever's before/after).

    >>> versus_shipped({"events_per_s": 300.0, "cpu_us_per_event": {"broker": 900.0}},
    ...                {"events_per_s": 600.0, "cpu_us_per_event": {"broker": 600.0}})
    {'events_per_s': 0.5, 'cpu_us_per_event': 1.5, 'p99_ms_near_saturation': None}
    """
    return {
        "events_per_s": _ratio(loop.get("events_per_s"), shipped.get("events_per_s")),
        "cpu_us_per_event": _ratio(_total_cpu(loop), _total_cpu(shipped)),
        "p99_ms_near_saturation": _ratio(
            _near_saturation(loop)[1].get("p99"), _near_saturation(shipped)[1].get("p99")
        ),
    }


def _versus_shipped(loop: dict[str, Any], shipped: dict[str, Any]) -> str:
    ratios = {k: None if v is None else round(v, 3) for k, v in versus_shipped(loop, shipped).items()}
    return (
        f"  {'  over the shipped loop (same run)':<40} rate {_times(ratios['events_per_s'])}"
        f"  CPU/event {_times(ratios['cpu_us_per_event'])}"
        f"  p99 near saturation {_times(ratios['p99_ms_near_saturation'])}"
    )


def _times(value: float | None) -> str:
    return "–" if value is None else f"x{value:.2f}"


def _ms(value: float | None) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:,.0f}"


def _run_line(target: str, count: str, run: dict[str, Any], extra: str) -> str:
    """``target, partitions: rate, p99 (fixed rate / near saturation), CPU per event, load; ratios``."""
    if "events_per_s" not in run:
        return f"  {target:<10} {count:>2}p  {run.get('status')}: {run.get('reason')}"
    pulsar = run["pulsar_cpu_us_per_event"]
    return (
        f"  {target:<10} {count:>2}p {run['events_per_s']:>7,.0f} ev/s  p99 {_ms(run['p99_ms']):>6}"
        f" / {_ms(run['p99_ms_near_saturation']):>6} ms  CPU µs/event Pulsar {_ms(pulsar):>6}"
        f" functions {_ms(run['functions_cpu_us_per_event']):>6}  load {run['load_avg']:.2f}{extra}"
    )


def _ratios_text(run: dict[str, Any], versus: dict[str, float | None] | None) -> str:
    """The run's ratios to the 1-partition run, and (a cluster run) to the standalone's."""
    text = ""
    if ratio := run.get("ratio_to_1"):
        text += f"  to 1p: rate {_times(ratio['events_per_s'])} p99 {_times(ratio['p99_ms'])}"
    if versus:
        text += (
            f"  to standalone: rate {_times(versus['events_per_s'])} p99 {_times(versus['p99_ms'])}"
            f" Pulsar CPU {_times(versus['pulsar_cpu_us_per_event'])}"
        )
    return text


def _fixed_rate(*sections: dict[str, Any]) -> str:
    rates = {run["fixed_rate"] for s in sections for run in s.get("runs", {}).values() if "fixed_rate" in run}
    return "/".join(str(rate) for rate in sorted(rates)) or "the fixed rate"


def loop_target_lines(sections: Sections) -> list[str]:
    """The deployed loop per partition count, on the standalone and the cluster, with their ratios."""
    standalone, cluster = sections["loop_partitions"], sections["cluster"]
    lines = [
        "",
        f"deployed loop by partitions ({', '.join(PARTITIONED)} at parallelism 2 when partitioned;"
        f" p99 at {_fixed_rate(standalone, cluster)} ev/s / near saturation; ratios to 1 partition,"
        " cluster to standalone)",
    ]
    if standalone["status"] != "ok":
        lines.append(f"  {'standalone':<10} {standalone['status']}: {standalone.get('reason')}")
    for count, run in standalone.get("runs", {}).items():
        lines.append(_run_line("standalone", count, run, _ratios_text(run, None)))
    if cluster["status"] != "ok":
        lines.append(f"  {'cluster':<10} {cluster['status']}: {cluster.get('reason')}")
    for count, run in cluster.get("runs", {}).items():
        versus = cluster.get("ratio_to_standalone", {}).get(count)
        lines.append(_run_line("cluster", count, run, _ratios_text(run, versus)))
    for target, section in (("standalone", standalone), ("cluster", cluster)):
        cpu = section.get("runs", {}).get("1", {}).get("cpu_us_per_event")
        if cpu:
            text = ", ".join(f"{name} {us:,.0f}" for name, us in cpu.items())
            lines.append(f"  {'CPU µs per event, ' + target + ', 1 partition (saturated)':<52} {text}")
    return lines
