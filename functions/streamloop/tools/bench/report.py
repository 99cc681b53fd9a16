"""The bench document (``out/bench.json``) and its table: targets and ratios first, then throughputs.

Every section is ``{"status": "ok", ...}`` or ``{"status": "skipped", "reason": ...}``; a target whose
section is skipped is reported as skipped, never as met or missed.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from typing import Any

from streamloop.tools.bench.compare import PARALLEL_FUNCTIONS as PARTITIONED

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


def _loop_p99(sections: Sections) -> float | None:
    latency = sections["loop_latency"].get("latency_ms", {}).get("500")
    return latency["p99"] if latency else None


# (key, what, comparison, target, the section it needs, how to read the value)
TARGETS: list[tuple[str, str, str, float, str, Callable[[Sections], float | None]]] = [
    (
        "embedded_vs_ceiling",
        "embedded whole loop / library-chain ceiling",
        ">=",
        0.60,
        "embedded",
        _embedded_ratio,
    ),
    (
        "functions_vs_identity",
        "deployed function / identity function (worst)",
        ">=",
        0.70,
        "deployed_functions",
        _worst_function_ratio,
    ),
    (
        "loop_p99_ms_at_500",
        "Pulsar loop p99 event→prediction at 500 ev/s (ms)",
        "<=",
        100.0,
        "loop_latency",
        _loop_p99,
    ),
]


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
    """Each target of issue 5: its value, whether it is met, or why it was not measured."""
    out: dict[str, dict[str, Any]] = {}
    for key, what, comparison, target, section, read in TARGETS:
        entry: dict[str, Any] = {"what": what, "target": f"{comparison} {target:g}"}
        if sections[section]["status"] != "ok":
            entry.update(value=None, met=None, reason=sections[section].get("reason"))
        else:
            value = read(sections)
            met = None if value is None else (value >= target if comparison == ">=" else value <= target)
            entry.update(value=None if value is None else round(value, 3), met=met)
        out[key] = entry
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
        "targets (ratios of CPU time of runs measured side by side, median of rounds)",
    ]
    for entry in doc["targets"].values():
        if entry["value"] is None:
            state, value = f"skipped: {entry.get('reason')}", "–"
        else:
            state, value = ("met" if entry["met"] else "MISSED"), f"{entry['value']:g}"
        lines.append(f"  {entry['what']:<52} {value:>8}  {entry['target']:<8} {state}")
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


def _broker_lines(sections: Sections) -> list[str]:
    """The real-Pulsar sections, one line each (or why they did not run)."""
    lines: list[str] = []

    def state(name: str) -> dict[str, Any] | None:
        section = sections[name]
        if section["status"] != "ok":
            lines.append(f"  {name.replace('_', ' '):<40} {section['status']}: {section.get('reason')}")
            return None
        return section

    if identity := state("identity_function"):
        lines.append(f"  {'identity function on the worker':<40} {identity['events_per_s']:>10,.0f} msg/s")
        lines.append(
            f"  {'streamloop identity (MANUAL, keyed)':<40} "
            f"{identity['streamloop_identity_events_per_s']:>10,.0f}"
            f" msg/s  ratio {identity['streamloop_identity_ratio']:.2f}"
        )
    if bare := state("bare_client"):
        lines.append(f"  {'bare pulsar-client consume→produce':<40} {bare['events_per_s']:>10,.0f} msg/s")
    if functions := state("deployed_functions"):
        for name, f in functions.items():
            if isinstance(f, dict):
                ratio = f.get("ratio_to_identity")
                runs = " / ".join(f"{r:.2f}" for r in f.get("runs_ratio_to_identity", []))
                text = f"  ratio to identity {ratio:.2f}" if ratio is not None else ""
                text += f" (pairs {runs})" if runs else ""
                lines.append(
                    f"  {'deployed ' + name + ' (alone, saturated)':<40} "
                    f"{f['events_per_s']:>10,.0f} msg/s{text}"
                )
    if loop := state("loop_latency"):
        lines.append(
            f"  {'Pulsar whole loop, sustained':<40} {loop['events_per_s']:>10,.0f} ev/s"
            f"  (predictions alone {loop.get('predictions_per_s', 0):,.0f}/s)"
        )
        for rate, latency in loop["latency_ms"].items():
            lines.append(
                f"  {'  event→prediction at ' + rate + ' ev/s':<40} p50 {latency['p50']:>8,.1f} ms"
                f"  p99 {latency['p99']:>8,.1f} ms  (n={latency['n']}, missing {latency['missing']})"
            )
        if cpu := loop.get("cpu_us_per_event"):
            text = ", ".join(f"{name} {us:,.0f}" for name, us in cpu.items())
            lines.append(f"  {'  CPU µs per event (saturated)':<40} {text}")
            lines.append(
                f"  {'  cores the loop needs at 500 ev/s':<40} {sum(cpu.values()) * 500 / 1e6:>10.2f}"
            )
    if scaling := state("scaling"):
        for name, rates in scaling.items():
            if isinstance(rates, dict):
                lines.append(
                    f"  {name + ' parallelism 1 → 2':<40} {rates['1'] or 0:>10,.0f} → {rates['2']:,.0f} msg/s"
                    f"  (x{rates.get('speedup', 0):.2f})"
                )
    if memory := state("memory"):
        text = ", ".join(
            f"{n} {m['rss_mb']:.0f}" for n, m in memory.items() if isinstance(m, dict) and m["rss_mb"]
        )
        lines.append(f"  {'RSS per instance (MB)':<40} {text}")
    if startup := state("startup"):
        text = ", ".join(f"{n} {s['seconds']:.1f}" for n, s in startup.items() if isinstance(s, dict))
        lines.append(f"  {'create → first message processed (s)':<40} {text}")
    return lines


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
