#!/usr/bin/env python3
"""Try variations of the template's gunicorn.conf.py side by side, to choose its defaults.

    python3 benchmarks/sweep.py --name workers-threads --grid workers=2,3,4 --grid threads=4,8,16,32
    python3 benchmarks/sweep.py --name preload --grid preload_app=True,False --cold-starts 5
    python3 benchmarks/sweep.py --name candidates --config "" --config "threads=32 accesslog=None" --references
    python3 benchmarks/sweep.py --name parser --extra-pip gunicorn_h1c --grid "http_parser='python','fast'" --views json,static

Every configuration is the baked project's own gunicorn.conf.py with some
settings reassigned after it (values are Python literals), so settings that
have no command-line flag to turn them off, like preload_app, can be varied
too. Each of --rounds rounds starts all configurations afresh, then loads
them in turn (see measure.py), and each figure is the median over rounds. --references adds the
issue's comparison servers to every round. Writes
benchmarks/results/sweep-NAME.{md,json}.
"""

import argparse
import ast
import itertools
import json
import os
import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path

import setup_env
from catalog import (
    GRANIAN, HAND_TUNED, OURS, STATIC_MIDDLEWARE, Entry, attach_databases, gunicorn_ours, overriding_conf, put_behind_proxies, standard_entries,
)
from measure import Curve, add_curve_arguments, cold_start_seconds, curve_from, measure_all, median
from project import BakedProject, prepare_project
from report import curve_tables, markdown_table


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, help="names the result files")
    parser.add_argument("--grid", action="append", default=[], metavar="SETTING=V1,V2",
                        help="a gunicorn setting and the values to try; several --grid make a product")
    parser.add_argument("--config", action="append", default=[], metavar="'SETTING=VALUE SETTING=VALUE'",
                        help="one more configuration, besides the grid's; the empty string means the conf as is")
    parser.add_argument("--set", action="append", default=[], metavar="SETTING=VALUE", help="a setting fixed for every configuration")
    parser.add_argument("--views", default="json,cpu,io", help="comma list of json, cpu, io, db, static")
    parser.add_argument("--references", action="store_true", help="also run the hand-tuned, granian and WhiteNoise-middleware servers")
    parser.add_argument("--rounds", type=int, default=5)
    add_curve_arguments(parser)
    parser.add_argument("--direct", action="store_true", help="load the servers directly, with no router (nginx) in front of each")
    parser.add_argument("--cold-starts", type=int, default=0, help="time this many cold starts per configuration")
    parser.add_argument("--extra-pip", action="append", default=[],
                        help="a package to install over the project's requirements, e.g. gunicorn_h1c or gunicorn==26.2.0")
    return parser.parse_args()


REFERENCE_ROLES = {HAND_TUNED, GRANIAN, STATIC_MIDDLEWARE}


def parse_assignment(text: str) -> tuple[str, list]:
    """'threads=4,8' -> ('threads', [4, 8]); values are Python literals."""
    name, values = text.split("=", 1)
    return name.strip(), [ast.literal_eval(value) for value in values.split(",")]


def configurations(grid: list[str], explicit: list[str], fixed: list[str]) -> list[dict]:
    fixed_settings = {name: values[0] for name, values in map(parse_assignment, fixed)}
    axes = [parse_assignment(text) for text in grid]
    names = [name for name, _ in axes]
    from_grid = [dict(zip(names, combination)) for combination in itertools.product(*(values for _, values in axes))] if axes else []
    from_explicit = [{name: values[0] for name, values in map(parse_assignment, text.split())} for text in explicit]
    return [{**fixed_settings, **settings} for settings in from_grid + from_explicit] or [fixed_settings]


def label(settings: dict) -> str:
    return " ".join(f"{name}={value!r}" for name, value in settings.items()) or "gunicorn.conf.py as is"


def sweep_entries(project: BakedProject, work_dir: Path, settings_list: list[dict], views: tuple[str, ...], references: bool) -> list[Entry]:
    entries = [
        Entry(gunicorn_ours(project, label(settings), ["--config", str(overriding_conf(project, settings, work_dir / f"sweep-{index}.gunicorn.conf.py"))]), OURS, views)
        for index, settings in enumerate(settings_list)
    ]
    if references:
        for entry in standard_entries(project, work_dir, machine_workers=os.cpu_count()):
            shared_views = tuple(view for view in entry.views if view in views)
            if entry.role in REFERENCE_ROLES and shared_views:
                entries.append(Entry(entry.spec, entry.role, shared_views, entry.note))
    return entries


def against_first(rows: list[dict], first_server: str) -> dict:
    """Each row's req/s over the first configuration's on the same view, round by round:
    "median ratio (rounds ahead/rounds)". Rounds are run side by side, so pairing them
    cancels much of what the machine's load does to both."""
    firsts = {(row["view"], row["clients"]): row["rounds_rps"] for row in rows if row["server"] == first_server}
    paired = {}
    for row in rows:
        point = (row["view"], row["clients"])
        if row["server"] == first_server or point not in firsts:
            continue
        ratios = [this / first for this, first in zip(row["rounds_rps"], firsts[point]) if first]
        paired[(row["server"], *point)] = f"{median(ratios):.2f} ({sum(ratio > 1 for ratio in ratios)}/{len(ratios)})"
    return paired


def markdown(args: argparse.Namespace, rows: list[dict], cold_starts: dict, curve: Curve, first_server: str) -> str:
    paired = against_first(rows, first_server)
    header = ["server", "view", "clients", "req/s (median)", "per round", "vs first config, per round", "p50 ms", "p99 ms", "max ms", "errors",
              "server CPU µs/req", "voluntary context switches/req", "peak RSS MiB", "peak PSS MiB", "peak DB connections", "cold start s"]
    body = [
        [row["server"], row["view"], row["clients"], row["requests_per_second"], row["rounds_rps"], paired.get((row["server"], row["view"], row["clients"]), ""),
         row["p50_ms"], row["p99_ms"], row["max_ms"], row["errors"], row["cpu_us_per_request"], row["voluntary_switches_per_request"],
         row["peak_rss_mib"], row["peak_pss_mib"], row["peak_database_connections"],
         cold_starts.get(row["server"])]
        for row in sorted(rows, key=lambda row: (row["view"], row["clients"], -row["requests_per_second"]))
    ]
    proxy = "each server behind an nginx of its own (the router, benchmarks/README.md)" if not args.direct else "servers loaded directly"
    return "\n".join([
        f"# Sweep: {args.name}", "",
        f"`{curve.describe()}`, {args.rounds} rounds, configurations interleaved; grid {args.grid}, configs {args.config}, fixed {args.set}, "
        f"extra packages {args.extra_pip}; {proxy}. req/s, p50 and p99 are medians over rounds, max the worst, errors "
        f"(non-2xx plus socket errors) summed.", "",
        curve_tables(rows),
        "## Every row", "",
        f"Sorted by view, client count, fastest first. \"vs first config\": the median over rounds of this row's req/s over "
        f"`{first_server}`'s in the same round, and in how many rounds it was ahead.", "",
        markdown_table(header, body), "",
    ])


def main() -> None:
    args = parse_args()
    venv_dir = setup_env.bootstrap(tuple(args.extra_pip))
    views = tuple(args.views.split(","))
    curve = curve_from(args)
    work_dir = Path(tempfile.mkdtemp(prefix="django-template-sweep-"))
    work_dir.chmod(0o755)  # the proxies' nginx workers run as "nobody" under root and keep temp files in it
    log_dir = work_dir / "logs"
    log_dir.mkdir()
    try:
        project = prepare_project(setup_env.BENCHMARK_DIR.parent, work_dir, venv_dir, tuple(args.extra_pip))
        entries = sweep_entries(project, work_dir, configurations(args.grid, args.config, args.set), views, args.references)
        if not args.direct:
            put_behind_proxies(entries, work_dir)
        with ExitStack() as databases:
            attach_databases(entries, databases)
            rows = measure_all(entries, project, curve, args.rounds, log_dir).rows
        cold_starts = {
            entry.spec.name: median(cold_start_seconds(entry.spec, log_dir, args.cold_starts))
            for entry in entries if args.cold_starts and entry.role == OURS
        }
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    results_dir = setup_env.BENCHMARK_DIR / "results"
    results_dir.mkdir(exist_ok=True)
    report = markdown(args, rows, cold_starts, curve, entries[0].spec.name)
    (results_dir / f"sweep-{args.name}.md").write_text(report)
    (results_dir / f"sweep-{args.name}.json").write_text(json.dumps({"args": vars(args), "rows": rows, "cold_starts": cold_starts}, indent=2) + "\n")
    print(report)


if __name__ == "__main__":
    main()
