#!/usr/bin/env python3
"""Measure the template's gunicorn defaults against the alternatives, side by side, in one run.

    python3 benchmarks/run.py

Bakes a project from this template, adds benchmark views to it, loads every
server in catalog.py with wrk on loopback, and writes
benchmarks/results/latest.{md,json,png}. See benchmarks/README.md.
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import tempfile
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

import setup_env
from catalog import OURS, OURS_NAME, STATIC_MIDDLEWARE, attach_databases, put_behind_proxies, standard_entries
from measure import Curve, add_curve_arguments, cold_start_seconds, curve_from, measure_all, median
from project import prepare_project
from report import comparisons, database_ceiling_row, header_comparison, markdown_report, rows_table, target_checks

if __name__ == "__main__":
    setup_env.bootstrap()

# matplotlib is installed in the benchmark venv that bootstrap() switched to.
from chart import write_chart  # noqa: E402

TEMPLATE_DIR = setup_env.BENCHMARK_DIR.parent
RESULTS_DIR = setup_env.BENCHMARK_DIR / "results"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="times every server, view and client count is loaded; the report keeps the median")
    add_curve_arguments(parser)
    parser.add_argument("--cold-starts", type=int, default=5, help="how many times to time a cold start")
    parser.add_argument("--template", type=Path, default=TEMPLATE_DIR)
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--direct", action="store_true", help="load the servers directly, with no router (nginx) in front of each")
    parser.add_argument("--keep-workdir", action="store_true", help="keep the baked project and server logs")
    return parser.parse_args()


def make_work_dir() -> Path:
    work_dir = Path(tempfile.mkdtemp(prefix="django-template-bench-"))
    # nginx's workers run as "nobody" when started by root and must read the collected static files.
    work_dir.chmod(0o755)
    return work_dir


def template_version(template_dir: Path) -> str:
    describe = subprocess.run(["git", "-C", str(template_dir), "describe", "--always", "--dirty"], capture_output=True, text=True)
    return describe.stdout.strip() or "uncommitted"


def machine_description() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), "?")
    return f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}"


def write_results(results: dict, results_dir: Path) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    (results_dir / "latest.md").write_text(markdown_report(results) + "\n")
    write_chart(results, results_dir / "latest.png")


def instance_database_connections(project) -> int:
    """What our defaults let one instance hold on this machine: workers x connections per worker."""
    code = f"import os; from {project.slug}.plumbing.server.sizing import this_instance; size = this_instance(os.environ); print(size.workers * size.connections_per_worker)"
    return int(subprocess.run([str(project.python), "-c", code], cwd=project.root, env=project.env, check=True, capture_output=True, text=True).stdout)


def assemble_results(args, curve: Curve, project, measured, cold_starts: list[float], load_average_before: float,
                     instance_connections: int) -> dict:
    ceiling = database_ceiling_row(instance_connections, "our connection budget on this machine")
    rows, static_headers = [*measured.rows, ceiling], measured.static_headers
    found = comparisons(rows)
    return {
        "meta": {
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine_description(),
            "template": template_version(args.template),
            "load": f"{curve.describe()}, {args.rounds} interleaved rounds, median",
            "clients": {"dynamic": curve.clients, "database": curve.database_clients},
            "proxied": not args.direct,
            "cpu_loops": int(project.env["BENCH_CPU_LOOPS"]),
            "static_url": project.big_css_url,
            "static_bytes": project.big_css_bytes,
            "runtime_seconds": setup_env.seconds_since_start(),
            "load_average_1min": {"before": load_average_before, "after": os.getloadavg()[0]},
        },
        "rows": rows,
        "comparisons": found,
        "targets": target_checks(rows, found, median(cold_starts), curve.clients, curve.database_clients, ceiling["requests_per_second"]),
        "cold_start": {"samples_seconds": cold_starts, "median_seconds": median(cold_starts)},
        "ours_worker_rss_mib": measured.worker_rss_mib[OURS_NAME],
        "static_headers": {
            "ours_vs_middleware": header_comparison(static_headers[OURS], static_headers[STATIC_MIDDLEWARE]),
        },
    }


def print_summary(results: dict, results_dir: Path) -> None:
    print()
    print(rows_table(results["rows"]))
    print()
    for target in results["targets"]:
        by_round = f"; round by round {target['by_round']}" if target["by_round"] else ""
        print(f"{'met    ' if target['met'] else 'NOT MET'}  {target['target']}: {target['measured']} (needs {target['needs']}{by_round})")
    print(f"\nWrote {results_dir}/latest.md, latest.json and latest.png in {results['meta']['runtime_seconds']} s.")


def main() -> None:
    args = parse_args()
    # Other work on a shared machine moves every number; this tells the reader how busy it was.
    load_average_before = os.getloadavg()[0]
    curve = curve_from(args)
    work_dir = make_work_dir()
    log_dir = work_dir / "logs"
    log_dir.mkdir()
    try:
        print("Baking the project ...", flush=True)
        project = prepare_project(args.template, work_dir, setup_env.ensure_venv())
        entries = standard_entries(project, work_dir, machine_workers=os.cpu_count())
        if not args.direct:
            put_behind_proxies(entries, work_dir)
        with ExitStack() as databases:
            attach_databases(entries, databases)
            measured = measure_all(entries, project, curve, args.rounds, log_dir)
        print("Timing cold starts ...", flush=True)
        ours = next(entry for entry in entries if entry.role == OURS)
        cold_starts = cold_start_seconds(ours.spec, log_dir, args.cold_starts)
        instance_connections = instance_database_connections(project)
    finally:
        if args.keep_workdir:
            print(f"Kept {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    results = assemble_results(args, curve, project, measured, cold_starts, load_average_before, instance_connections)
    write_results(results, args.results_dir)
    print_summary(results, args.results_dir)


if __name__ == "__main__":
    main()
