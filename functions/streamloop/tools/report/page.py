"""The report as one self-contained HTML page: the PNG inlined as base64, then the summary numbers."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from streamloop.tools.report.summary import Summary

STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}"
    "th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}img{max-width:100%}"
)


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def write_html(summary: Summary, png: str | Path, out: str | Path, title: str = "streamloop report") -> Path:
    """Write the page to ``out``, embedding ``png``; returns its path."""
    image = base64.b64encode(Path(png).read_bytes()).decode()
    last = summary.last_served
    counts = [[name, str(value)] for name, value in summary.counts.items()]
    if last:
        counts.append([f"latest window: {last[0]}", f"{summary.shown(last[1])} {summary.metric}"])
    versions = [
        [model, str(len(points)), summary.shown(sum(v for _, v in points) / len(points))]
        for model, points in sorted(summary.series.items())
    ]
    latency = [
        [stage, f"{p['n']:.0f}", f"{p['p50']:.1f}", f"{p['p95']:.1f}", f"{p['p99']:.1f}", f"{p['max']:.1f}"]
        for stage, p in summary.latency.items()
    ]
    promotions = [[f"{at:.1f}", version, reason] for at, version, reason in summary.promotions]
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<img alt='{html.escape(summary.metric)} per model version and latency histograms' "
        f"src='data:image/png;base64,{image}'>"
        "<h2>Summary</h2>"
        + _table(["what", "value"], counts)
        + f"<h2>{html.escape(summary.metric)} per model version</h2>"
        + _table(["model", "windows", f"mean {summary.metric}"], versions)
        + "<h2>Latency (ms)</h2>"
        + _table(["stage", "messages", "p50", "p95", "p99", "max"], latency)
        + "<h2>Promotions</h2>"
        + _table(["at (s)", "version", "reason"], promotions)
        + "</body></html>"
    )
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
