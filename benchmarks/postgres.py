"""Throwaway PostgreSQL servers for the database view: one per server under test.

Each is a cluster of its own (initdb in a temp dir, Debian's binaries, run as
the `postgres` user), on a free loopback port, with the connection limit of
Heroku's smallest plan, so that no server's connections take another's
slots. The app connects as a plain role that owns its database, as on a
platform; the superuser's reserved slots stay free for watching
pg_stat_activity.
"""

import glob
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from servers import free_port

# Heroku Postgres Essential-0, the plan the template's app.json provisions.
MAX_CONNECTIONS = 20
APP_ROLE = "app"


def bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        raise SystemExit("PostgreSQL's server binaries are missing: apt-get install postgresql")
    return Path(found[-1]).parent


def as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class Cluster:
    def __init__(self):
        self.base = Path(tempfile.mkdtemp(prefix="django-template-bench-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
        self.data = self.base / "data"
        self.port = free_port()
        self.bin = bin_dir()
        subprocess.run(as_postgres([str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"]),
                       check=True, capture_output=True)
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections={MAX_CONNECTIONS}"
        subprocess.run(as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.base / "log"), "-w", "start"]),
                       check=True, capture_output=True)
        self.superuser_url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        self.sql(f"CREATE ROLE {APP_ROLE} LOGIN PASSWORD '{APP_ROLE}'")
        self.sql(f"CREATE DATABASE {APP_ROLE} OWNER {APP_ROLE}")
        self.app_url = f"postgres://{APP_ROLE}:{APP_ROLE}@127.0.0.1:{self.port}/{APP_ROLE}"

    def sql(self, statement: str) -> str:
        return subprocess.run(["psql", self.superuser_url, "-Atc", statement], check=True, capture_output=True, text=True).stdout.strip()

    def watcher(self):
        """The superuser's connection that PeakConnections watches through, opened on first use and
        kept: opened during a load, it could find every slot taken by what the last load left."""
        if getattr(self, "_watcher", None) is None:
            import psycopg  # from the project's requirements, in the benchmark's venv

            self._watcher = psycopg.connect(self.superuser_url, autocommit=True)
        return self._watcher

    def remove(self) -> None:
        if getattr(self, "_watcher", None) is not None:
            self._watcher.close()
        subprocess.run(as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"]), capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)


class PeakConnections:
    """The most connections the app's role held at once while the `with` block ran, sampled every 20 ms."""

    INTERVAL_SECONDS = 0.02

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.peak = 0

    def __enter__(self):
        self._connection = self.cluster.watcher()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        query = "SELECT count(*) FROM pg_stat_activity WHERE usename = %s"
        while not self._stop.is_set():
            self.peak = max(self.peak, self._connection.execute(query, [APP_ROLE]).fetchone()[0])
            time.sleep(self.INTERVAL_SECONDS)

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()
