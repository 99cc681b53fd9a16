"""The report picture: metric per model version over time with drift, promotion and rejection marks
(top), and one latency histogram per stage (bottom). Matplotlib with the Agg backend (no display)."""

from __future__ import annotations

from pathlib import Path

from streamloop.tools.report.summary import Summary

MAX_LEGEND = 10  # versions named in the legend, promotions labelled on the axis


def draw(summary: Summary, png: str | Path, title: str = "streamloop") -> Path:
    """Draw ``summary`` to ``png`` and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = list(summary.latency_samples)
    fig = plt.figure(figsize=(11, 7.5 if stages else 5))
    grid = fig.add_gridspec(2 if stages else 1, max(1, len(stages)), height_ratios=[3, 2] if stages else [1])
    ax = fig.add_subplot(grid[0, :])
    if summary.served:
        xs, ys = zip(*summary.served, strict=True)
        ax.plot(
            xs,
            [summary.scale * y for y in ys],
            color="black",
            lw=1.8,
            label="served (every version, per window)",
        )
    versions = sorted(m for m in summary.series if not m.endswith(":challenger"))
    for model, points in sorted(summary.series.items()):
        xs, ys = zip(*points, strict=True)
        if model.endswith(":challenger"):
            ax.plot(xs, [summary.scale * y for y in ys], ls="--", lw=1, color="gray", label=model)
        else:  # one colour per version; named in the legend while there are few
            ax.plot(
                xs,
                [summary.scale * y for y in ys],
                "o",
                ms=4,
                label=model if len(versions) <= MAX_LEGEND else None,
            )
    for i, at in enumerate(summary.drifts):
        ax.axvline(at, color="red", lw=0.9, alpha=0.7, label="drift detected" if i == 0 else None)
    if summary.promotions:
        xs = [at for at, _, _ in summary.promotions]
        ax.plot(xs, [2] * len(xs), "^", color="green", ms=7, label="promotion")
        for at, version, _ in summary.promotions[:: max(1, len(summary.promotions) // MAX_LEGEND)]:
            ax.annotate(
                f"v{version}",
                (at, 2),
                xytext=(0, 8),
                textcoords="offset points",
                fontsize=7,
                ha="center",
                color="green",
            )
    if summary.rejections:
        xs = [at for at, _ in summary.rejections]
        ax.plot(xs, [5] * len(xs), "x", color="darkorange", ms=7, label="model rejected")
    if summary.scale != 1.0:
        ax.set_ylim(0, 105)
    ax.set_xlabel("seconds since the first metrics record")
    unit = " (%)" if summary.scale != 1.0 else ""
    ax.set_ylabel(f"prequential {summary.metric} per window{unit}")
    ax.set_title(f"{title}: {summary.metric} per model version")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=6, fontsize=7, frameon=False)
    else:
        ax.text(0.5, 0.5, "no window records yet", ha="center", va="center", transform=ax.transAxes)
    for column, stage in enumerate(stages):
        hist = fig.add_subplot(grid[1, column])
        hist.hist(summary.latency_samples[stage], bins=40, color="steelblue")
        p = summary.latency[stage]
        hist.set_title(f"{stage}: p50 {p['p50']:.1f} ms, p99 {p['p99']:.1f} ms", fontsize=9)
        hist.set_xlabel("latency (ms)")
        hist.set_ylabel("messages")
    fig.tight_layout()
    out = Path(png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
