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

from .network import free_port


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
    test can stop and start again (on the same port) to play an outage."""

    def __init__(self, bin_dir):
        self.bin_dir = bin_dir
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
        self.pg_ctl("-o", options, "-l", str(self.base / "log"), "-w", "start")

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
