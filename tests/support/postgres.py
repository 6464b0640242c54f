"""A throwaway PostgreSQL server for tests: its own cluster in a temp dir,
on a free loopback port, stopped at the end.

Set TEST_DATABASE_URL to use an existing server instead.
"""

import glob
import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

import psycopg

from .network import free_port
from .processes import PeakSampler


def postgres_bin_dir():
    """Debian keeps the server binaries out of PATH, one folder per major version."""
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(os.path.realpath(on_path)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(versions[-1]).parent if versions else None


def as_postgres_user(command):
    """initdb refuses to run as root, so root runs it as the `postgres` user."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


class PostgresCluster:
    """A cluster of its own in a temp dir, on a free loopback port, that a
    test can stop and start again (on the same port) to play an outage.
    `max_connections` plays a plan's connection limit (PostgreSQL keeps 3
    of them for superusers)."""

    def __init__(self, bin_dir, max_connections=None):
        self.bin_dir = bin_dir
        self.max_connections = max_connections
        self.base = Path(tempfile.mkdtemp(prefix="template-tests-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
        self.data_dir = self.base / "data"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        subprocess.run(
            as_postgres_user([str(bin_dir / "initdb"), "-D", str(self.data_dir), "-A", "trust", "-U", "postgres", "--no-sync"]),
            check=True, capture_output=True,
        )

    def pg_ctl(self, *args):
        subprocess.run(as_postgres_user([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), *args]), check=True, capture_output=True)

    def start(self):
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
        if self.max_connections:
            options += f" -c max_connections={self.max_connections}"
        self.pg_ctl("-o", options, "-l", str(self.base / "log"), "-w", "start")

    def app_database(self, role="app"):
        """The URL of a new database owned by a new plain (not superuser) role,
        as a platform gives an app: superusers' reserved slots stay free for
        the test to watch the server from."""
        password = f"{role}-password"
        with self.superuser() as admin:
            admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
            admin.execute(f"CREATE DATABASE {role} OWNER {role}")
        return f"postgres://{role}:{password}@127.0.0.1:{self.port}/{role}"

    def superuser(self):
        return psycopg.connect(self.url, autocommit=True)

    def stop(self):
        self.pg_ctl("-m", "immediate", "-w", "stop")

    def remove(self):
        subprocess.run(as_postgres_user([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"]), capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)


@contextmanager
def throwaway_postgres(bin_dir):
    cluster = PostgresCluster(bin_dir)
    try:
        cluster.start()
        yield cluster.url
    finally:
        cluster.remove()


class ConnectionWatch(PeakSampler):
    """Samples, every few milliseconds, the connections `role` holds open on
    the cluster and which client ports they come from (pg_stat_activity)."""

    def __init__(self, cluster, role="app"):
        super().__init__(self._connections)
        self.cluster = cluster
        self.role = role
        self.client_ports = set()

    def __enter__(self):
        self._admin = self.cluster.superuser()
        return super().__enter__()

    def __exit__(self, *exc_info):
        super().__exit__(*exc_info)
        self._admin.close()

    def _connections(self):
        query = "SELECT client_port FROM pg_stat_activity WHERE usename = %s"
        ports = [port for (port,) in self._admin.execute(query, [self.role])]
        self.client_ports.update(ports)
        return len(ports)
