#!/usr/bin/env python3
"""Light requests next to heavy ones: what a variation of gunicorn.conf.py does to each.

    python3 benchmarks/mixed.py --name switch-interval --references --config "" \\
        --config "post_fork='benchsite.gil_hooks.switch_every_10_ms'"

run.py loads one view at a time. A real service gets light requests (an API
call, a health check) while heavy ones compute in the same workers, and how
long the light ones wait then depends on how the worker's threads share the
GIL. Here two wrk run at once against each server: --light-connections on
the tiny JSON view and --heavy-connections on a view that computes ~50 ms.
Configurations are given as in sweep.py. Each round starts every server
afresh, one at a time, in a shuffled order; the report keeps the medians
over rounds. Writes benchmarks/results/mixed-NAME.{md,json}.
"""

import argparse
import json
import random
import shutil
import statistics
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import setup_env
from catalog import DYNAMIC_VIEWS, HAND_TUNED, OURS
from load import LoadResult, LoadSettings, run_wrk
from measure import WARMUP, require_200, wait_until_idle
from project import BakedProject, prepare_project
from report import markdown_table
from servers import RunningServer, ServerSpec
from sweep import configurations, sweep_entries

LIGHT_PATH = "/bench/json"
HEAVY_PATH = "/bench/cpu-long"

COLUMNS = [
    ("light_rps", "light req/s"), ("light_p50_ms", "light p50 ms"), ("light_p90_ms", "light p90 ms"),
    ("light_p99_ms", "light p99 ms"), ("heavy_rps", "heavy req/s"), ("heavy_p99_ms", "heavy p99 ms"), ("errors", "errors"),
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, help="names the result files")
    parser.add_argument("--config", action="append", default=[], metavar="'SETTING=VALUE SETTING=VALUE'",
                        help="a configuration: the conf with these settings reassigned; the empty string means the conf as is")
    parser.add_argument("--references", action="store_true", help="also run the hand-tuned gunicorn servers of run.py")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--duration", type=int, default=4, help="seconds of load per server and round")
    parser.add_argument("--light-connections", type=int, default=28)
    parser.add_argument("--heavy-connections", type=int, default=4)
    return parser.parse_args()


def server_specs(project: BakedProject, work_dir: Path, settings_list: list[dict], references: bool) -> list[ServerSpec]:
    """The configurations as sweep.py makes them, and with --references the hand-tuned gunicorn servers (not granian)."""
    entries = sweep_entries(project, work_dir, settings_list, DYNAMIC_VIEWS, references)
    return [entry.spec for entry in entries if entry.role in (OURS, HAND_TUNED)]


def load_both(port: int, args: argparse.Namespace) -> tuple[LoadResult, LoadResult]:
    light = LoadSettings(args.duration, args.light_connections, threads=1)
    heavy = LoadSettings(args.duration, args.heavy_connections, threads=1)
    with ThreadPoolExecutor(2) as pool:
        light_load = pool.submit(run_wrk, port, LIGHT_PATH, light)
        heavy_load = pool.submit(run_wrk, port, HEAVY_PATH, heavy)
        return light_load.result(), heavy_load.result()


def measure_once(spec: ServerSpec, log_dir: Path, args: argparse.Namespace) -> dict:
    with RunningServer(spec, log_dir) as server:
        for path in (LIGHT_PATH, HEAVY_PATH):
            require_200(server, path, {})
        run_wrk(server.port, LIGHT_PATH, WARMUP)
        wait_until_idle([server.pid])
        light, heavy = load_both(server.port, args)
    sample = {
        "server": spec.name, "light_rps": light.requests_per_second, "light_p50_ms": light.p50_ms, "light_p90_ms": light.p90_ms,
        "light_p99_ms": light.p99_ms, "heavy_rps": heavy.requests_per_second, "heavy_p99_ms": heavy.p99_ms,
        "errors": light.errors + heavy.errors,
    }
    print("  " + "  ".join(f"{key} {value}" for key, value in sample.items()), flush=True)
    return sample


def median_rows(specs: list[ServerSpec], samples: list[dict]) -> list[dict]:
    rows = []
    for spec in specs:
        rounds = [sample for sample in samples if sample["server"] == spec.name]
        row = {"server": spec.name}
        row.update({key: round(statistics.median(sample[key] for sample in rounds), 1) for key, _ in COLUMNS if key != "errors"})
        row["errors"] = sum(sample["errors"] for sample in rounds)
        row["light_p99_ms_per_round"] = [sample["light_p99_ms"] for sample in rounds]
        rows.append(row)
    return rows


def markdown(args: argparse.Namespace, rows: list[dict]) -> str:
    header = ["server", *(title for _, title in COLUMNS), "light p99 ms per round"]
    body = [[row["server"], *(row[key] for key, _ in COLUMNS), row["light_p99_ms_per_round"]] for row in rows]
    return "\n".join([
        f"# Mixed load: {args.name}", "",
        f"Two wrk at once for {args.duration} s: {args.light_connections} connections on `{LIGHT_PATH}` (light) and "
        f"{args.heavy_connections} on `{HEAVY_PATH}` (heavy, ~50 ms of pure Python); {args.rounds} rounds, every server "
        f"started afresh each round; medians over rounds, errors summed. Configs {args.config}.", "",
        markdown_table(header, body), "",
    ])


def main() -> None:
    args = parse_args()
    venv_dir = setup_env.bootstrap()
    work_dir = Path(tempfile.mkdtemp(prefix="django-template-mixed-"))
    log_dir = work_dir / "logs"
    log_dir.mkdir()
    try:
        project = prepare_project(setup_env.BENCHMARK_DIR.parent, work_dir, venv_dir)
        specs = server_specs(project, work_dir, configurations([], args.config, []), args.references)
        samples = []
        for round_number in range(1, args.rounds + 1):
            print(f"Round {round_number} of {args.rounds}", flush=True)
            order = specs.copy()
            random.Random(round_number).shuffle(order)
            samples += [measure_once(spec, log_dir, args) for spec in order]
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    rows = median_rows(specs, samples)
    results_dir = setup_env.BENCHMARK_DIR / "results"
    report = markdown(args, rows)
    (results_dir / f"mixed-{args.name}.md").write_text(report)
    (results_dir / f"mixed-{args.name}.json").write_text(json.dumps({"args": vars(args), "rows": rows, "samples": samples}, indent=2) + "\n")
    print(report)


if __name__ == "__main__":
    main()
