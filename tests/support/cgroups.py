"""A memory limit for a process the test starts, through a real cgroup:
cgroup v2's memory.max, or v1's memory.limit_in_bytes. Root only."""

import os
import shutil
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path("/sys/fs/cgroup")


@contextmanager
def memory_limited_cgroup(limit_bytes):
    """A new cgroup with that memory limit; yields a preexec_fn that moves a child process into it."""
    if os.geteuid() != 0:
        pytest.skip("making a cgroup with a memory limit needs root")
    if (ROOT / "cgroup.controllers").exists():  # v2
        parent, limit_file = ROOT, "memory.max"
        if "memory" not in (ROOT / "cgroup.subtree_control").read_text().split():
            pytest.skip("the cgroup v2 root does not delegate the memory controller")
    elif (ROOT / "memory" / "cgroup.procs").exists():  # v1
        parent, limit_file = ROOT / "memory", "memory.limit_in_bytes"
    else:
        pytest.skip(f"no cgroup memory controller under {ROOT}")
    group = parent / f"template-tests-{uuid.uuid4().hex[:8]}"
    group.mkdir()
    try:
        (group / limit_file).write_text(str(limit_bytes))

        def move_into_group():
            (group / "cgroup.procs").write_text(str(os.getpid()))

        yield move_into_group
    finally:
        # Empty once the processes in it have exited; rmdir is how a cgroup is removed.
        for _ in range(50):
            try:
                group.rmdir()
                break
            except OSError:
                time.sleep(0.1)
        else:
            shutil.rmtree(group, ignore_errors=True)
