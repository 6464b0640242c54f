"""A PNG a person can read at a glance: per view, req/s and p99 against the number of clients, a line per server."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on a server
import matplotlib.pyplot as plt  # noqa: E402

from catalog import OURS  # noqa: E402

TITLES = {
    "json": "tiny JSON view", "cpu": "CPU view (~5 ms)", "io": "I/O view (50 ms wait)",
    "db": "database view (PostgreSQL connection held 50 ms; 20-connection server)", "static": "100 KB hashed CSS",
}
OURS_COLOUR = "#d62728"
# matplotlib's default colours without its red, which is ours.
OTHER_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def server_lines(rows: list[dict], view: str) -> dict[str, list[dict]]:
    lines: dict[str, list[dict]] = {}
    for row in rows:
        if row["view"] == view:
            lines.setdefault(row["server"], []).append(row)
    return lines


def plot_view(rate_axes, p99_axes, rows: list[dict], view: str) -> None:
    others = iter(OTHER_COLOURS * 2)
    counts = sorted({row["clients"] for row in rows if row["view"] == view and row["clients"]})
    for server, points in server_lines(rows, view).items():
        if points[0]["clients"] is None:  # a computed ceiling: the same at every client count
            rate_axes.axhline(points[0]["requests_per_second"], color="black", linestyle=":", label=server[:60])
            continue
        points.sort(key=lambda row: row["clients"])
        clients = [row["clients"] for row in points]
        style = {"color": OURS_COLOUR, "linewidth": 2.5} if points[0]["role"] == OURS else {"color": next(others), "linewidth": 1}
        rate_axes.plot(clients, [row["requests_per_second"] for row in points], marker="o", label=server[:60], **style)
        p99_axes.plot(clients, [row["p99_ms"] for row in points], marker="o", **style)
    for axes, unit in ((rate_axes, "requests/s"), (p99_axes, "p99 ms (log)")):
        axes.set_xscale("log", base=2)
        axes.set_xticks(counts, [str(count) for count in counts])
        axes.minorticks_off()
        axes.set_xlabel("clients", fontsize=8)
        axes.set_ylabel(unit, fontsize=8)
        axes.tick_params(labelsize=8)
        axes.set_title(f"{TITLES.get(view, view)}: {unit.split()[0]}", fontsize=9)
    rate_axes.set_ylim(bottom=0)
    p99_axes.set_yscale("log")
    rate_axes.legend(fontsize=6, loc="best")


def write_chart(results: dict, path: Path) -> None:
    rows = results["rows"]
    views = list(dict.fromkeys(row["view"] for row in rows))
    figure, axes = plt.subplots(len(views), 2, figsize=(13, 4.2 * len(views)), squeeze=False)
    for (rate_axes, p99_axes), view in zip(axes, views):
        plot_view(rate_axes, p99_axes, rows, view)
    meta = results["meta"]
    figure.suptitle(f"Gunicorn defaults benchmark · {meta['date']} · our defaults in red\n{meta['load']}", fontsize=9)
    figure.tight_layout(rect=(0, 0, 1, 0.97))  # leave room for the title
    figure.savefig(path, dpi=100)
    plt.close(figure)
