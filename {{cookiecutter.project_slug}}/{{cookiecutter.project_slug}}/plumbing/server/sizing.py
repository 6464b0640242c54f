"""How many gunicorn workers and threads this machine can really run.

os.cpu_count() reports every CPU on the host, even when a container is
allowed to use two of them. Starting a worker per host CPU inside a small
container means dozens of processes fighting over a tiny CPU quota and an
out-of-memory kill as soon as they all warm up. So the numbers here come from
what the kernel will actually give this process: its CPU affinity and its
cgroup limits (v2, and v1 for older hosts).

Environment variables, when set, always beat the computed values:

    WEB_CONCURRENCY            number of worker processes (Heroku sets it)
    GUNICORN_THREADS           threads per worker
    GUNICORN_WORKER_MEMORY_MB  memory budget per worker, used to cap workers
    DATABASE_MAX_CONNECTIONS   database connections for the whole instance,
                               shared out among the workers' pools

gunicorn.conf.py and settings.py both ask server_size(os.environ), so the
workers gunicorn starts and the connection pool each of them opens always
agree.
"""

import math
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

CGROUP_ROOT = "/sys/fs/cgroup"
PROC_SELF_CGROUP = "/proc/self/cgroup"

MIB = 1024 * 1024

# One worker per CPU, plus one: while a worker's threads wait on each other
# for the GIL, the spare keeps every CPU busy. More workers than that served
# no more in side-by-side measurements, and each costs the memory of a
# Django process. Two is the floor so that one worker can be restarted
# (recycling, a crash) while another serves.
MIN_WORKERS = 2

# What a Django worker may use: a few times what one holds after start-up, so
# it can grow under real requests before the cgroup's OOM killer acts.
DEFAULT_WORKER_MEMORY_MB = 128

# What the gunicorn master holds beyond the pages its forked workers share
# with it, with some room to spare.
MASTER_MEMORY_MB = 32

# Threads let one worker overlap requests waiting on the database or on other
# services: each thread serves one request at a time, so a view that waits
# 50 ms can be served at most threads / 50 ms times a second per worker,
# however many clients a router sends. 48 lift that ceiling above what two
# CPUs can serve of a view that also computes, and cost views that only
# compute little, as the GIL lets one thread run at a time whatever their
# number. The database is not at risk: a worker's threads share its pool
# (DATABASE_MAX_CONNECTIONS), and a request waits its turn there.
DEFAULT_THREADS = 48

# The most PostgreSQL connections one instance may hold, all its workers
# together. Heroku's smallest database plan (Essential-0) allows 20: 12
# leaves room there for the release phase's `migrate`, a one-off shell and
# a dashboard or two. On 2 CPUs (3 workers) that is 4 connections per worker.
DEFAULT_DATABASE_MAX_CONNECTIONS = 12

# How /proc/self/cgroup names the unified (v2) hierarchy: no controllers.
V2 = ""

# cgroup v1 has no "max": an unlimited memory cgroup reports a number close to
# 2**63 (rounded down to a page). Anything this large is not a real limit.
V1_UNLIMITED_MEMORY = 2**60


class SizingError(ValueError):
    """A sizing environment variable holds a value we cannot use."""


# --- CPUs -------------------------------------------------------------------


def available_cpus(cgroup_root=CGROUP_ROOT, affinity=None, proc_self_cgroup=PROC_SELF_CGROUP) -> int:
    """The number of CPUs this process can keep busy, rounded up, at least 1.

    `affinity` is the set of CPU ids the process may run on; it defaults to
    what the scheduler says and is a parameter so tests can pass their own.
    """
    if affinity is None:
        affinity = _scheduler_affinity()
    limits = [len(affinity)]
    for directory in _cgroup_dirs(cgroup_root, proc_self_cgroup, V2):
        limits.append(_read_cpu_max(directory / "cpu.max"))
    for name in ("cpu", "cpu,cpuacct"):
        for directory in _cgroup_dirs(Path(cgroup_root, name), proc_self_cgroup, "cpu"):
            limits.append(_read_cfs_quota(directory))
    return max(1, min(limit for limit in limits if limit is not None))


def _scheduler_affinity():
    # sched_getaffinity is Linux-only; elsewhere (macOS development) the CPU
    # count is the best we can do.
    if hasattr(os, "sched_getaffinity"):
        return os.sched_getaffinity(0)
    return range(os.cpu_count() or 1)


def _read_cpu_max(path):
    """CPUs allowed by a cgroup v2 `cpu.max` ("QUOTA PERIOD"), or None."""
    fields = _read_text(path).split()
    if not fields or fields[0] == "max":
        return None
    period = fields[1] if len(fields) > 1 else "100000"
    return _cpus_from_quota(fields[0], period)


def _read_cfs_quota(directory):
    """CPUs allowed by cgroup v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`."""
    quota = _read_text(directory / "cpu.cfs_quota_us")
    period = _read_text(directory / "cpu.cfs_period_us")
    return _cpus_from_quota(quota, period)


def _cpus_from_quota(quota, period):
    # A quota of 1.5 periods still lets a second worker use half a CPU, so
    # round up. -1 (v1's "no limit"), zero and garbage all mean "no limit".
    try:
        quota, period = int(quota), int(period)
    except ValueError:
        return None
    if quota <= 0 or period <= 0:
        return None
    return math.ceil(quota / period)


# --- Memory -----------------------------------------------------------------


def memory_limit_bytes(cgroup_root=CGROUP_ROOT, proc_self_cgroup=PROC_SELF_CGROUP) -> int | None:
    """The tightest cgroup memory limit on this process, or None if none."""
    limits = [_read_bytes(directory / "memory.max") for directory in _cgroup_dirs(cgroup_root, proc_self_cgroup, V2)]
    for directory in _cgroup_dirs(Path(cgroup_root, "memory"), proc_self_cgroup, "memory"):
        v1_limit = _read_bytes(directory / "memory.limit_in_bytes")
        if v1_limit is not None and v1_limit < V1_UNLIMITED_MEMORY:
            limits.append(v1_limit)
    limits = [limit for limit in limits if limit is not None]
    return min(limits, default=None)


def _read_bytes(path):
    # "max" (v2's "no limit"), a missing file and garbage all give None.
    try:
        value = int(_read_text(path))
    except ValueError:
        return None
    return value if value > 0 else None


# --- cgroup files -----------------------------------------------------------


def _cgroup_dirs(root, proc_self_cgroup, controller):
    """The directories under `root` whose limits apply to this process.

    In a container the process's own cgroup is mounted at the root, so the
    root alone is enough. On a plain host (a systemd service, say) the
    process's cgroup is a subdirectory named in /proc/self/cgroup, and a
    limit on any of its parents applies too, so all of them are returned.
    `controller` is V2 for the unified (v2) tree, else the v1 controller.
    """
    root = Path(root)
    relative = PurePosixPath(_own_cgroup_path(proc_self_cgroup, controller))
    directories = [root]
    # ".." appears when our cgroup is outside the mounted tree: not readable.
    if ".." not in relative.parts:
        parts = relative.parts[1:]  # drop the leading "/"
        for depth in range(1, len(parts) + 1):
            directories.append(root.joinpath(*parts[:depth]))
    return directories


def _own_cgroup_path(proc_self_cgroup, controller):
    # Lines are "ID:CONTROLLERS:/path": v2's has no controllers ("0::/path"),
    # v1's name theirs, comma-separated ("4:memory:/path", "2:cpu,cpuacct:/path").
    for line in _read_text(proc_self_cgroup).splitlines():
        if line.count(":") < 2:
            continue
        _, controllers, path = line.split(":", 2)
        if controllers == controller if controller == V2 else controller in controllers.split(","):
            return path or "/"
    return "/"


def _read_text(path):
    # A missing or unreadable file means the limit it would hold does not
    # apply here (other cgroup version, not Linux, locked-down sandbox).
    try:
        return Path(path).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return ""


# --- Workers and threads ----------------------------------------------------


def workers_for_cpus(cpus: int) -> int:
    """Worker processes to start for this many CPUs, before the memory cap."""
    return max(MIN_WORKERS, cpus + 1)


def worker_count(environ, cpus: int, memory_limit: int | None) -> int:
    """How many gunicorn worker processes to start.

    WEB_CONCURRENCY wins when set. Otherwise one worker per CPU plus one, cut down so
    that the workers fit in the memory limit when there is one.
    """
    # Both are read up front so a typo in either is reported on every start,
    # not only on the day a memory limit makes the budget matter.
    requested = _positive_int(environ, "WEB_CONCURRENCY", "worker processes")
    worker_memory_mb = _positive_int(environ, "GUNICORN_WORKER_MEMORY_MB", "megabytes (MiB) per worker")
    if requested is not None:
        return requested
    workers = workers_for_cpus(cpus)
    if memory_limit is None:
        return workers
    budget = (worker_memory_mb or DEFAULT_WORKER_MEMORY_MB) * MIB
    fits_in_memory = (memory_limit - MASTER_MEMORY_MB * MIB) // budget
    return max(1, min(workers, fits_in_memory))


def thread_count(environ) -> int:
    """Threads per gunicorn worker: GUNICORN_THREADS, or DEFAULT_THREADS."""
    threads = _positive_int(environ, "GUNICORN_THREADS", "threads per worker")
    return DEFAULT_THREADS if threads is None else threads


def database_max_connections(environ) -> int:
    """DATABASE_MAX_CONNECTIONS, or DEFAULT_DATABASE_MAX_CONNECTIONS."""
    value = _positive_int(
        environ, "DATABASE_MAX_CONNECTIONS", "database connections for this instance, all workers together"
    )
    return DEFAULT_DATABASE_MAX_CONNECTIONS if value is None else value


@dataclass(frozen=True)
class ServerSize:
    workers: int
    threads: int
    connections_per_worker: int
    database_max_connections: int
    # The workers the CPUs, memory or WEB_CONCURRENCY asked for, when fewer
    # database connections than that were allowed; else None.
    workers_cut_from: int | None = None

    def notes(self):
        """What the sizing decided that an operator should know, one line each."""
        if self.workers_cut_from is None:
            return []
        return [
            f"DATABASE_MAX_CONNECTIONS={self.database_max_connections} is fewer than the "
            f"{self.workers_cut_from} workers this instance would run; "
            f"running {self.workers} workers with 1 database connection each."
        ]


def this_instance(environ) -> ServerSize:
    """server_size() for the CPUs and memory this process may use."""
    return server_size(environ, available_cpus(), memory_limit_bytes())


def server_size(environ, cpus: int, memory_limit: int | None) -> ServerSize:
    """Workers, threads per worker and database connections per worker.

    Every worker needs a database connection of its own, so there are never
    more workers than DATABASE_MAX_CONNECTIONS; the connections are shared
    out evenly, and any remainder stays unused (the start-up log says so).
    """
    wanted = worker_count(environ, cpus, memory_limit)
    threads = thread_count(environ)
    connections = database_max_connections(environ)
    workers = min(wanted, connections)
    return ServerSize(
        workers=workers,
        threads=threads,
        connections_per_worker=connections // workers,
        database_max_connections=connections,
        workers_cut_from=wanted if workers < wanted else None,
    )


def _positive_int(environ, name, unit):
    """The value of environment variable `name` as an int >= 1, or None."""
    value = environ.get(name)
    if value is None:
        return None
    text = value.strip()
    # isascii() keeps out digits like "³" that isdigit() accepts but int()
    # does not; this also rejects "2.5", "-3", "+3" and "1_000".
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise SizingError(f"{name} must be a positive whole number of {unit}, got {value!r}")
    return int(text)
