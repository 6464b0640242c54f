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


@contextmanager
def throwaway_postgres(bin_dir):
    base = Path(tempfile.mkdtemp(prefix="template-tests-pg-"))
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    data_dir = base / "data"
    port = free_port()
    subprocess.run(
        as_postgres_user([str(bin_dir / "initdb"), "-D", str(data_dir), "-A", "trust", "-U", "postgres", "--no-sync"]),
        check=True, capture_output=True,
    )
    server_options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        as_postgres_user([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-o", server_options, "-l", str(base / "log"), "-w", "start"]),
        check=True, capture_output=True,
    )
    try:
        yield f"postgres://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(as_postgres_user([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-m", "immediate", "-w", "stop"]), capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
