"""A PNG a person can read at a glance: req/s per view (p99 beside each bar) and peak memory per server."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on a server
import matplotlib.pyplot as plt  # noqa: E402

from catalog import OURS  # noqa: E402

PANELS = (
    ("json", "tiny JSON view"), ("cpu", "CPU view (~5 ms)"), ("io", "I/O view (50 ms wait)"),
    ("db", "database view (holds a PostgreSQL connection 50 ms; 64 clients; 20-connection server)"), ("static", "100 KB hashed CSS"),
)
OURS_COLOUR = "#d62728"
OTHER_COLOUR = "#7f7f7f"


def bar_panel(axes, labels, values, colours, annotations, title, unit, log_scale=False):
    positions = range(len(labels))
    axes.barh(positions, values, color=colours)
    axes.set_yticks(list(positions), labels, fontsize=8)
    axes.invert_yaxis()
    axes.set_title(title, fontsize=10)
    axes.set_xlabel(unit + (" (log scale)" if log_scale else ""), fontsize=8)
    axes.tick_params(axis="x", labelsize=8)
    widest = max(values, default=0) or 1
    if log_scale:
        axes.set_xscale("log")
        axes.set_xlim(min(value for value in values if value > 0) / 2, widest * 20)
    else:
        axes.set_xlim(0, widest * 1.45)
    for position, value, annotation in zip(positions, values, annotations):
        label_x = value * 1.08 if log_scale else value + widest * 0.01
        axes.text(label_x, position, annotation, va="center", fontsize=7)


def view_panel(axes, rows, view, title):
    view_rows = [row for row in rows if row["view"] == view]
    # nginx serves static files ~10x faster than any Python server: only a log axis shows both.
    log_scale = view == "static"
    bar_panel(
        axes,
        labels=[row["server"] for row in view_rows],
        values=[row["requests_per_second"] for row in view_rows],
        colours=[OURS_COLOUR if row["role"] == OURS else OTHER_COLOUR for row in view_rows],
        annotations=[f"{row['requests_per_second']:,.0f}" + (f"  p99 {row['p99_ms']:g} ms" if row["p99_ms"] is not None else "")
                     + (f"  {row['errors']} err" if row["errors"] else "") for row in view_rows],
        title=title, unit="requests/s", log_scale=log_scale,
    )


def memory_panel(axes, rows):
    peaks: dict[str, dict] = {}
    for row in rows:
        if row["peak_rss_mib"] is None:  # a computed ceiling, no server
            continue
        current = peaks.setdefault(row["server"], {"rss": 0.0, "pss": 0.0, "role": row["role"]})
        current["rss"] = max(current["rss"], row["peak_rss_mib"])
        current["pss"] = max(current["pss"], row["peak_pss_mib"])
    bar_panel(
        axes,
        labels=list(peaks),
        values=[peak["rss"] for peak in peaks.values()],
        colours=[OURS_COLOUR if peak["role"] == OURS else OTHER_COLOUR for peak in peaks.values()],
        annotations=[f"{peak['rss']:.0f} MiB RSS  ({peak['pss']:.0f} PSS)" for peak in peaks.values()],
        title="peak memory, master + workers", unit="MiB",
    )


def write_chart(results: dict, path: Path) -> None:
    rows = results["rows"]
    figure, axes = plt.subplots(6, 1, figsize=(11, 20), gridspec_kw={"height_ratios": [7, 6, 6, 6, 4, 10]})
    for panel_axes, (view, title) in zip(axes, PANELS):
        view_panel(panel_axes, rows, view, title)
    memory_panel(axes[-1], rows)
    meta = results["meta"]
    figure.suptitle(f"Gunicorn defaults benchmark · {meta['date']} · {meta['load']} · our defaults in red", fontsize=11)
    figure.tight_layout(rect=(0, 0, 1, 0.98))  # leave room for the title
    figure.savefig(path, dpi=110)
    plt.close(figure)
