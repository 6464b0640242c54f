"""Load every server's views in interleaved rounds and keep the median of each.

Each round starts every server afresh, loads every server and view once, in
an order shuffled anew each round, and stops them all. On a shared machine
a burst of someone else's work then spoils one sample of several servers,
not every sample of one, and the median over rounds discards it; no server
always runs first in a round or after a particular other one; and no
server keeps, for the whole run, the luck or bad luck of one start: four
copies of one configuration, each started once and loaded in turn, kept
medians up to 11 % apart over a whole sweep (measured 2026-11-27; see
benchmarks/README.md, "Reading the numbers").
"""

import argparse
import random
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from catalog import DATABASE_VIEW, STATIC_VIEW, VIEW_PATHS, Entry
from load import LoadResult, LoadSettings, run_wrk
from postgres import PeakConnections
from procmem import PeakMemory, cpu_seconds, voluntary_context_switches
from project import BakedProject
from servers import ProxiedServer, RunningServer, ServerSpec, http_get

# What a browser sends; WhiteNoise and nginx then pick the .br file.
STATIC_REQUEST_HEADERS = {"Accept-Encoding": "gzip, br"}

# One short burst before measuring, so every worker has imported and
# initialised Django's URL resolver, templates etc. before the clock runs.
# All servers are warmed at once: it needs no accuracy, and it saves the
# seconds that five rounds of fresh servers would otherwise add to a run.
WARMUP = LoadSettings(duration_seconds=1)

# A load lasts at least a second per this many clients, so that every client
# is answered more than once: the database view answers about 230 requests
# a second, each of 1,024 clients about every 4.5 s, twice in 10 s.
CLIENTS_PER_SECOND_OF_LOAD = 100


@dataclass
class Curve:
    """The client counts each view is loaded with, and the wrk settings of each load."""
    clients: tuple[int, ...] = (32, 128, 512)
    # More clients than a small plan has connections, as production sends.
    database_clients: tuple[int, ...] = (64, 256, 1024)
    min_seconds: int = 4
    threads: int = 2
    # Longer than the router's 30 s, so that wrk reports the slowest answer instead of cutting it off.
    timeout_seconds: float = 35

    def points(self, view: str) -> tuple[int, ...]:
        if view == DATABASE_VIEW:
            return self.database_clients
        # The static file is a comparison of two setups, not a curve.
        return self.clients[:1] if view == STATIC_VIEW else self.clients

    def load(self, clients: int) -> LoadSettings:
        return LoadSettings(max(self.min_seconds, clients // CLIENTS_PER_SECOND_OF_LOAD), clients, self.threads, self.timeout_seconds)

    def describe(self) -> str:
        return (f"wrk -t{self.threads} --timeout {self.timeout_seconds:g}s --latency; clients {'/'.join(map(str, self.clients))} "
                f"(database view {'/'.join(map(str, self.database_clients))}, static {self.clients[0]}); "
                f"max({self.min_seconds}, clients/{CLIENTS_PER_SECOND_OF_LOAD}) s per load")


def client_counts(text: str) -> tuple[int, ...]:
    return tuple(int(count) for count in text.split(","))


def add_curve_arguments(parser: argparse.ArgumentParser) -> None:
    """The load options run.py and sweep.py share; curve_from() reads them."""
    defaults = Curve()
    parser.add_argument("--clients", type=client_counts, default=defaults.clients, metavar="N,N,...",
                        help="wrk connections for the json, cpu and io views (the static view: the first); default %(default)s")
    parser.add_argument("--database-clients", type=client_counts, default=defaults.database_clients, metavar="N,N,...",
                        help="wrk connections for the db view; default %(default)s")
    parser.add_argument("--duration", type=int, default=defaults.min_seconds,
                        help=f"seconds per load at least; clients/{CLIENTS_PER_SECOND_OF_LOAD} if longer")
    parser.add_argument("--wrk-threads", type=int, default=defaults.threads)
    parser.add_argument("--wrk-timeout", type=float, default=defaults.timeout_seconds,
                        help="seconds before wrk gives up on a request and counts it as an error")


def curve_from(args: argparse.Namespace) -> Curve:
    return Curve(args.clients, args.database_clients, args.duration, args.wrk_threads, args.wrk_timeout)


# Before each load, wait (at most SETTLE_TIMEOUT_SECONDS) for a window of
# SETTLE_INTERVAL_SECONDS in which each server used no more CPU than this
# (one clock tick: an idle gunicorn's heartbeats).
SETTLE_INTERVAL_SECONDS = 0.1
SETTLE_TIMEOUT_SECONDS = 3
IDLE_CPU_SECONDS = 0.01
# Before each load, the server loaded next must also answer its ready path this fast (wait_until_drained).
PROMPT_ANSWER_SECONDS = 0.5
DRAIN_TIMEOUT_SECONDS = 40


@dataclass
class ServerUnderTest:
    entry: Entry
    server: RunningServer | ProxiedServer
    requests: dict  # view -> (path, request headers)
    static_headers: dict = field(default_factory=dict)
    worker_peak_rss_kib: dict = field(default_factory=dict)  # pid -> KiB, recycled workers included


@dataclass
class Measurements:
    rows: list[dict]
    static_headers: dict  # role -> response headers of the static file
    worker_rss_mib: dict  # server name -> for each round, the peak RSS of each of its workers


def wait_until_drained(server: RunningServer | ProxiedServer) -> None:
    """Let the server answer what the last load left queued in it before loading it again.

    A load's clients leave up to one request each behind: after 1,024
    clients on the database view, ~1,000 requests and 4 s of waiting on
    PostgreSQL that uses no CPU, which wait_until_idle does not see. The next
    load's requests would queue behind them. The ready path answers
    promptly only once they are served.
    """
    deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        asked = time.monotonic()
        try:
            http_get(server.port, server.spec.ready_path, timeout=DRAIN_TIMEOUT_SECONDS)
        except OSError:
            time.sleep(SETTLE_INTERVAL_SECONDS)
            continue
        if time.monotonic() - asked < PROMPT_ANSWER_SECONDS:
            return


def view_request(project: BakedProject, view: str) -> tuple[str, dict]:
    if view == STATIC_VIEW:
        return project.big_css_url, STATIC_REQUEST_HEADERS
    return VIEW_PATHS[view], {}


def require_200(server: RunningServer | ProxiedServer, path: str, headers: dict) -> dict:
    """The response headers, after making sure the URL is a plain 200 (wrk would count a redirect as a success)."""
    status, response_headers = http_get(server.port, path, headers)
    if status != 200:
        raise RuntimeError(f"{server.spec.name}: GET {path} answered {status}, not 200; see {server.log_path}")
    return response_headers


def checked(entry: Entry, server: RunningServer | ProxiedServer, project: BakedProject) -> ServerUnderTest:
    target = ServerUnderTest(entry, server, {view: view_request(project, view) for view in entry.views})
    for view, (path, headers) in target.requests.items():
        response_headers = require_200(server, path, headers)
        if view == STATIC_VIEW:
            target.static_headers = response_headers
    return target


def start_all(entries: list[Entry], project: BakedProject, log_dir: Path, running: ExitStack) -> list[ServerUnderTest]:
    """Spawn every server (and its proxy) at once (they boot in parallel), check each URL answers 200, and warm them all."""
    servers = []
    for entry in entries:
        server = RunningServer(entry.spec, log_dir)
        if entry.proxy:
            server = ProxiedServer(server, RunningServer(entry.proxy, log_dir))
        server.start()
        running.callback(server.stop)
        servers.append(server)
    for server in servers:
        server.wait_until_ready()
    targets = [checked(entry, server, project) for entry, server in zip(entries, servers)]
    with ThreadPoolExecutor(len(targets)) as pool:
        list(pool.map(warm, targets))
    return targets


def warm(target: ServerUnderTest) -> None:
    path, headers = target.requests[target.entry.views[0]]
    run_wrk(target.server.port, path, WARMUP, headers)


def wait_until_idle(pids: list[int]) -> None:
    """Let the servers finish what the last load left queued, so that it does not weigh on the next one.

    When wrk stops, requests it sent are still queued in the server, up to
    one per thread: for 36 threads on the CPU-bound view, a tenth of a second
    of work that would otherwise land on the first requests of the next load.
    """
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    used = cpu_seconds(*pids)
    while time.monotonic() < deadline:
        time.sleep(SETTLE_INTERVAL_SECONDS)
        used, before = cpu_seconds(*pids), used
        if used - before <= IDLE_CPU_SECONDS * len(pids):
            return


def load_view(target: ServerUnderTest, view: str, clients: int, curve: Curve) -> dict:
    path, headers = target.requests[view]
    cpu_before = cpu_seconds(target.server.pid)
    switches_before = voluntary_context_switches(target.server.pid)
    watching = PeakConnections(target.entry.database) if view == DATABASE_VIEW else nullcontext()
    with PeakMemory(target.server.pid) as memory, watching as connections:
        result = run_wrk(target.server.port, path, curve.load(clients), headers)
    if target.server.exited():
        # Its figures would be a proxy's error pages; a server should never exit under load.
        raise RuntimeError(f"{target.entry.spec.name} exited during the {view} load at {clients} clients; see {target.server.log_path}")
    cpu_per_request_us = (cpu_seconds(target.server.pid) - cpu_before) / max(result.requests, 1) * 1e6
    switches_per_request = (voluntary_context_switches(target.server.pid) - switches_before) / max(result.requests, 1)
    for pid, kib in memory.peak_rss_by_pid.items():
        if pid != target.server.pid:
            target.worker_peak_rss_kib[pid] = max(target.worker_peak_rss_kib.get(pid, 0), kib)
    print_sample(target.entry.spec.name, view, clients, result, cpu_per_request_us, memory)
    return {
        "server": target.entry.spec.name, "role": target.entry.role, "view": view, "clients": clients, "note": target.entry.note,
        "requests_per_second": result.requests_per_second, "p50_ms": result.p50_ms, "p99_ms": result.p99_ms, "max_ms": result.max_ms,
        "errors": result.errors, "cpu_us_per_request": cpu_per_request_us, "voluntary_switches_per_request": switches_per_request,
        "peak_rss_mib": memory.peak_rss_kib / 1024, "peak_pss_mib": memory.peak_pss_kib / 1024,
        "peak_database_connections": connections.peak if connections else None,
    }


def print_sample(name: str, view: str, clients: int, result: LoadResult, cpu_per_request_us: float, memory: PeakMemory) -> None:
    print(f"  {name[:48]:48} {view:6} {clients:5} clients {result.requests_per_second:9.1f} req/s  p50 {result.p50_ms:7.2f} ms  "
          f"p99 {result.p99_ms:7.2f} ms  max {result.max_ms:8.0f} ms  errors {result.errors}  CPU {cpu_per_request_us:6.0f} us/req  "
          f"peak RSS {memory.peak_rss_kib / 1024:.0f} MiB", flush=True)


def median_rows(samples: list[dict]) -> list[dict]:
    """One row per server, view and client count, in first-seen order: medians over rounds, total errors, peak memory."""
    grouped: dict[tuple, list[dict]] = {}
    for sample in samples:
        grouped.setdefault((sample["server"], sample["view"], sample["clients"]), []).append(sample)
    return [
        {
            "server": server, "role": rounds[0]["role"], "view": view, "clients": clients,
            "requests_per_second": round(statistics.median(r["requests_per_second"] for r in rounds), 1),
            "p50_ms": round(statistics.median(r["p50_ms"] for r in rounds), 2),
            "p99_ms": round(statistics.median(r["p99_ms"] for r in rounds), 2),
            "max_ms": round(max(r["max_ms"] for r in rounds), 2),
            "errors": sum(r["errors"] for r in rounds),
            "cpu_us_per_request": round(statistics.median(r["cpu_us_per_request"] for r in rounds)),
            "voluntary_switches_per_request": round(statistics.median(r["voluntary_switches_per_request"] for r in rounds), 1),
            "peak_rss_mib": round(max(r["peak_rss_mib"] for r in rounds), 1),
            "peak_pss_mib": round(max(r["peak_pss_mib"] for r in rounds), 1),
            "peak_database_connections": max((r["peak_database_connections"] for r in rounds if r["peak_database_connections"] is not None), default=None),
            "rounds_rps": [round(r["requests_per_second"]) for r in rounds],
            "note": rounds[0]["note"],
        }
        for (server, view, clients), rounds in grouped.items()
    ]


def measure_all(entries: list[Entry], project: BakedProject, curve: Curve, rounds: int, log_dir: Path) -> Measurements:
    samples, static_headers, worker_rss_mib = [], {}, {entry.spec.name: [] for entry in entries}
    loads = [(entry_index, view, clients) for entry_index, entry in enumerate(entries) for view in entry.views for clients in curve.points(view)]
    for round_number in range(1, rounds + 1):
        print(f"Round {round_number} of {rounds}: every server started afresh, then {curve.describe()}, per server, view and "
              "client count in a shuffled order", flush=True)
        # A new order each round (the same in every run), so that no
        # server always follows the same one or opens the round.
        order = loads.copy()
        random.Random(round_number).shuffle(order)
        with ExitStack() as running:
            targets = start_all(entries, project, log_dir, running)
            for entry_index, view, clients in order:
                wait_until_idle([target.server.pid for target in targets])
                wait_until_drained(targets[entry_index].server)
                samples.append(load_view(targets[entry_index], view, clients, curve))
        for target in targets:
            if target.static_headers:
                static_headers.setdefault(target.entry.role, target.static_headers)
            worker_rss_mib[target.entry.spec.name].append([round(kib / 1024, 1) for _, kib in sorted(target.worker_peak_rss_kib.items())])
    canonical_order = [(entries[entry_index].spec.name, view, clients) for entry_index, view, clients in loads]
    return Measurements(
        rows=sorted(median_rows(samples), key=lambda row: canonical_order.index((row["server"], row["view"], row["clients"]))),
        static_headers=static_headers,
        worker_rss_mib=worker_rss_mib,
    )


def cold_start_seconds(spec: ServerSpec, log_dir: Path, repeats: int) -> list[float]:
    """Spawn-to-first-200 on the ready path, `repeats` times in a row."""
    samples = []
    for _ in range(repeats):
        server = RunningServer(spec, log_dir).start()
        try:
            samples.append(round(server.wait_until_ready(), 3))
        finally:
            server.stop()
    return samples


def median(samples: list[float]) -> float:
    return round(statistics.median(samples), 3)
