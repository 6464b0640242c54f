#!/usr/bin/env python3
"""Background tasks against the same work done inside the request, on this machine.

    python3 benchmarks/tasks.py [--tasks N] [--rounds R] [--clients C] [--duration S]

Bakes a project with background_tasks=yes and loads, through the router of
run.py, a view that runs the example task (`send_note`: one mail) inside the
request, then a view that enqueues it on commit while 1, then 2, worker
processes (`python -m <slug>.plumbing.worker`) run the queue. Each round
starts everything afresh, PostgreSQL (max_connections=20) included. Writes
benchmarks/results/tasks-DATE.{md,json}; see benchmarks/README.md.
"""

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import setup_env
from catalog import proxy_for
from load import LoadSettings, run_wrk
from measure import WARMUP, require_200, wait_until_idle
from postgres import Cluster
from project import BakedProject, prepare_project
from report import markdown_table
from servers import HOST, ProxiedServer, RunningServer, ServerSpec, free_port

INLINE_PATH = "/bench/tasks/inline"
QUEUED_PATH = "/bench/tasks/queued"
TASKS_TABLE = "django_tasks_database_dbtaskresult"
WORKER_COUNTS = (1, 2)
# After the load, tasks are enqueued one request at a time at this pace, which any worker keeps up with:
# their pickup delay is what a request sees when the queue is not backed up.
TRICKLE_PER_SECOND = 10
WORKER_START_TIMEOUT_SECONDS = 30
DRAIN_TIMEOUT_SECONDS = 900

COLUMNS = (
    ("mode", "work"),
    ("requests_per_second", "req/s"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("errors", "errors"),
    ("tasks", "tasks run"),
    ("tasks_per_second", "tasks/s"),
    ("tasks_per_second_per_worker", "tasks/s per worker"),
    ("pickup_p50_ms", "pickup p50 ms (load)"),
    ("pickup_p99_ms", "pickup p99 ms (load)"),
    ("trickle_pickup_p50_ms", f"pickup p50 ms ({TRICKLE_PER_SECOND}/s)"),
    ("trickle_pickup_p99_ms", f"pickup p99 ms ({TRICKLE_PER_SECOND}/s)"),
    ("exactly_once", "each task once"),
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--tasks",
        type=int,
        default=100,
        help=f"tasks enqueued after each load, {TRICKLE_PER_SECOND} a second: the pickup of a worker that keeps up",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=32, help="wrk connections")
    parser.add_argument("--duration", type=int, default=10, help="seconds of each load")
    parser.add_argument(
        "--mail-ms",
        type=int,
        default=0,
        help="milliseconds each mail takes to send, as a mail provider's SMTP round trips would (0: a file append)",
    )
    return parser.parse_args()


def percentile_ms(seconds: list[float], share: float) -> float | None:
    """Nearest rank, in milliseconds."""
    if not seconds:
        return None
    return round(sorted(seconds)[max(0, math.ceil(share * len(seconds)) - 1)] * 1000, 1)


class Site:
    """The baked project against a PostgreSQL of its own: its web server behind a router, its workers, its tasks."""

    def __init__(self, project: BakedProject, work_dir: Path, log_dir: Path, mail_ms: int):
        self.project, self.work_dir, self.log_dir = project, work_dir, log_dir
        self.cluster = Cluster()
        self.mail_log = work_dir / "mail.log"
        self.env = {
            **project.env,
            "DJANGO_SETTINGS_MODULE": "benchsite.settings_tasks",
            "DATABASE_URL": self.cluster.app_url,
            "BENCH_MAIL_LOG": str(self.mail_log),
            "BENCH_MAIL_MS": str(mail_ms),
        }
        subprocess.run(
            [str(project.python), "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=project.root,
            env=self.env,
            check=True,
        )
        import psycopg  # from the project's requirements, in the benchmark's venv

        # As the superuser, so that it takes none of the app role's connections.
        self.database = psycopg.connect(self.cluster.superuser_url.rsplit("/", 1)[0] + "/app", autocommit=True)

    def close(self) -> None:
        self.database.close()
        self.cluster.remove()

    def query(self, sql: str) -> list[tuple]:
        return self.database.execute(sql).fetchall()

    def web(self) -> ProxiedServer:
        """The project's own start command and gunicorn.conf.py, on loopback, behind an nginx router."""
        port = free_port()
        argv = [str(self.project.python), "-m", f"{self.project.slug}.plumbing.server", "--bind", f"{HOST}:{port}"]
        spec = ServerSpec("web", argv, self.env, self.project.root, port)
        server = ProxiedServer(
            RunningServer(spec, self.log_dir), RunningServer(proxy_for(spec, self.work_dir), self.log_dir)
        )
        server.start()
        server.wait_until_ready()
        return server

    def worker(self, number: int) -> RunningServer:
        """A worker as the Procfile starts it; ready when it logs that it started."""
        argv = [str(self.project.python), "-m", f"{self.project.slug}.plumbing.worker"]
        worker = RunningServer(
            ServerSpec(f"worker-{number}", argv, self.env, self.project.root, free_port()), self.log_dir
        ).start()
        deadline = time.monotonic() + WORKER_START_TIMEOUT_SECONDS
        while "Starting worker" not in worker.log_path.read_text(errors="replace"):
            if worker.exited() or time.monotonic() > deadline:
                raise RuntimeError(f"worker {number} did not start; see {worker.log_path}")
            time.sleep(0.1)
        return worker

    def wait_until_drained(self, workers: list[RunningServer]) -> None:
        deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
        while self.query(f"SELECT count(*) FROM {TASKS_TABLE} WHERE status IN ('READY', 'RUNNING')")[0][0]:
            if time.monotonic() > deadline or any(worker.exited() for worker in workers):
                raise RuntimeError(f"the queue did not drain; see {[str(worker.log_path) for worker in workers]}")
            time.sleep(0.2)

    def forget(self) -> None:
        """An empty task table and mail log, once the queue has drained."""
        self.query(f"DELETE FROM {TASKS_TABLE} RETURNING id")
        self.mail_log.write_text("")

    def mails(self) -> list[str]:
        return [line.split()[0] for line in self.mail_log.read_text().splitlines()]

    def tasks(self) -> dict:
        """What the stored timestamps say of the tasks run since forget(), and whether each was mailed exactly once."""
        rows = self.query(
            f"SELECT args_kwargs->'args'->>1, status, worker_ids, extract(epoch FROM started_at - enqueued_at), "
            f"extract(epoch FROM started_at), extract(epoch FROM finished_at) FROM {TASKS_TABLE}"
        )
        delays = [float(delay) for *_, delay, _, _ in rows]
        seconds = float(max(row[5] for row in rows) - min(row[4] for row in rows)) if rows else 0
        mailed = Counter(self.mails())
        return {
            "tasks": len(rows),
            "seconds": round(seconds, 2),
            "tasks_by_worker": sorted(Counter(worker_ids[0] for _, _, worker_ids, *_ in rows if worker_ids).values()),
            "pickup_p50_ms": percentile_ms(delays, 0.5),
            "pickup_p99_ms": percentile_ms(delays, 0.99),
            # Stored SUCCESSFUL, claimed by one worker, mailed once; and no mail that no stored task accounts for.
            "exactly_once": all(
                status == "SUCCESSFUL" and len(worker_ids) == 1 and mailed[marker] == 1
                for marker, status, worker_ids, *_ in rows
            )
            and sum(mailed.values()) == len(rows),
        }


def load(server: ProxiedServer, path: str, args: argparse.Namespace) -> dict:
    wait_until_idle([server.pid])
    result = run_wrk(server.port, path, LoadSettings(args.duration, args.clients, timeout_seconds=35))
    return {
        "requests_per_second": result.requests_per_second,
        "p50_ms": result.p50_ms,
        "p99_ms": result.p99_ms,
        "errors": result.errors,
        "requests": result.requests,
    }


def inline_row(site: Site, args: argparse.Namespace) -> dict:
    server = site.web()
    try:
        require_200(server, INLINE_PATH, {})
        run_wrk(server.port, INLINE_PATH, WARMUP)
        site.mail_log.write_text("")
        row = {"mode": "inside the request", "workers": 0, **load(server, INLINE_PATH, args)}
    finally:
        server.stop()
    # Every answered request mailed (requests still in flight when wrk stopped add a few).
    row["mails"] = len(site.mails())
    if row["mails"] < row["requests"]:
        raise RuntimeError(f"{row['requests']} requests answered, only {row['mails']} mails sent inside them")
    return row


def queued_row(site: Site, workers_count: int, args: argparse.Namespace) -> dict:
    server, workers = site.web(), []
    try:
        workers = [site.worker(number) for number in range(1, workers_count + 1)]
        require_200(server, QUEUED_PATH, {})
        run_wrk(server.port, QUEUED_PATH, WARMUP)
        site.wait_until_drained(workers)
        site.forget()
        row = {
            "mode": f"queued, {workers_count} worker{'s' if workers_count > 1 else ''}",
            "workers": workers_count,
            **load(server, QUEUED_PATH, args),
        }
        site.wait_until_drained(workers)
        under_load = site.tasks()
        site.forget()
        for _ in range(args.tasks):
            require_200(server, QUEUED_PATH, {})
            time.sleep(1 / TRICKLE_PER_SECOND)
        site.wait_until_drained(workers)
        trickle = site.tasks()
    finally:
        for process in [*workers, server]:
            process.stop()
    per_second = under_load["tasks"] / under_load["seconds"] if under_load["seconds"] else None
    return {
        **row,
        **under_load,
        "tasks_per_second": per_second and round(per_second, 1),
        "tasks_per_second_per_worker": per_second and round(per_second / workers_count, 1),
        "trickle_tasks": trickle["tasks"],
        "trickle_pickup_p50_ms": trickle["pickup_p50_ms"],
        "trickle_pickup_p99_ms": trickle["pickup_p99_ms"],
        # And no enqueue lost: a task stored for every request answered (and for some still in flight when wrk stopped).
        "exactly_once": under_load["exactly_once"]
        and under_load["tasks"] >= row["requests"]
        and trickle["exactly_once"]
        and trickle["tasks"] == args.tasks,
    }


def one_round(project: BakedProject, work_dir: Path, log_dir: Path, args: argparse.Namespace) -> list[dict]:
    site = Site(project, work_dir, log_dir, args.mail_ms)
    try:
        rows = [inline_row(site, args)] + [queued_row(site, count, args) for count in WORKER_COUNTS]
    finally:
        site.close()
    for row in rows:
        print("  " + ", ".join(f"{title} {row[key]}" for key, title in COLUMNS if row.get(key) is not None), flush=True)
    return rows


def medians(rounds: list[list[dict]]) -> list[dict]:
    """One row per mode: the median of each figure over rounds; "each task once" only if it held in every round."""
    summary = []
    for samples in zip(*rounds, strict=True):
        row = {"mode": samples[0]["mode"], "workers": samples[0]["workers"]}
        if "exactly_once" in samples[0]:
            row["exactly_once"] = all(sample["exactly_once"] for sample in samples)
        for key, _ in COLUMNS:
            values = [
                sample[key]
                for sample in samples
                if isinstance(sample.get(key), (int, float)) and not isinstance(sample[key], bool)
            ]
            if key not in row and values:
                row[key] = round(statistics.median(values), 1)
        summary.append(row)
    return summary


def markdown(results: dict) -> str:
    meta = results["meta"]
    table = markdown_table(
        [title for _, title in COLUMNS], [[row.get(key, "") for key, _ in COLUMNS] for row in results["rows"]]
    )
    return "\n".join(
        [
            "# Background tasks against the same work inside the request",
            "",
            f"{meta['date']} · {meta['machine']} · template {meta['template']} · {meta['load']}. "
            f"Whole run: {meta['runtime_seconds']} s.",
            "",
            table,
            "",
            'Medians over rounds; "each task once" held in every round. Pickup (load): enqueue to start of the '
            f"tasks the load enqueued, waiting in the backlog included; pickup ({TRICKLE_PER_SECOND}/s): of the tasks "
            "enqueued one at a time after it. tasks/s: the tasks the load enqueued over the time from the first "
            "start to the last finish.",
            "",
        ]
    )


def main() -> None:
    args = parse_args()
    venv_dir = setup_env.bootstrap()
    from run import machine_description, template_version  # run.py re-runs itself in the venv only as a script

    work_dir = Path(tempfile.mkdtemp(prefix="django-template-tasks-"))
    work_dir.chmod(0o755)  # the routers' nginx workers run as "nobody" under root and keep temp files in it
    log_dir = work_dir / "logs"
    log_dir.mkdir()
    load_average_before = os.getloadavg()[0]
    rounds = []
    try:
        project = prepare_project(setup_env.BENCHMARK_DIR.parent, work_dir, venv_dir, answers=("background_tasks=yes",))
        for number in range(1, args.rounds + 1):
            print(
                f"Round {number} of {args.rounds}: inside the request, then queued with "
                f"{' and '.join(map(str, WORKER_COUNTS))} workers",
                flush=True,
            )
            rounds.append(one_round(project, work_dir, log_dir, args))
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    results = {
        "meta": {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine_description(),
            "template": template_version(setup_env.BENCHMARK_DIR.parent),
            "load": f"wrk -t2 -c{args.clients} -d{args.duration}s through the router, {args.rounds} rounds, "
            f"{args.tasks} tasks at {TRICKLE_PER_SECOND}/s after each queued load, each mail taking {args.mail_ms} ms to send",
            "runtime_seconds": setup_env.seconds_since_start(),
            "load_average_1min": {"before": load_average_before, "after": os.getloadavg()[0]},
        },
        "rows": medians(rounds),
        "rounds": rounds,
    }
    results_dir = setup_env.BENCHMARK_DIR / "results"
    results_dir.mkdir(exist_ok=True)
    name = f"tasks-{datetime.now(UTC):%Y-%m-%d}" + (f"-mail-{args.mail_ms}ms" if args.mail_ms else "")
    report = markdown(results)
    (results_dir / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    (results_dir / f"{name}.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
