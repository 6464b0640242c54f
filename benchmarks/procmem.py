"""Memory, CPU time and context switches of a server's whole process tree (master + workers), read from /proc.

RSS counts pages shared between a preloading master and its forked workers
once per process, so the sum overstates real use; PSS splits shared pages
between the processes sharing them, so its sum is what the tree really
costs. Both are reported: RSS because it is what people compare, PSS
because it is what tells preload_app's savings apart.
"""

import os
import threading
from pathlib import Path

SAMPLE_INTERVAL_SECONDS = 0.25
CLOCK_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def parent_pid(stat_line: str) -> int:
    # /proc/PID/stat is "pid (comm) state ppid ...", and comm may hold spaces.
    return int(stat_line.rsplit(")", 1)[1].split()[1])


def cpu_seconds(*root_pids: int) -> float:
    """CPU time the trees have used: their live processes', plus the workers each master has reaped (recycled ones)."""
    children = children_by_parent()
    total_ticks = 0
    for root_pid in root_pids:
        for pid in process_tree(root_pid, children):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # gone since the tree was read
                continue
            user, system, children_user, children_system = map(int, fields[11:15])
            total_ticks += user + system + (children_user + children_system if pid == root_pid else 0)
    return total_ticks / CLOCK_TICKS_PER_SECOND


def voluntary_context_switches(root_pid: int) -> int:
    """How often the tree's live threads have blocked: on I/O, a lock, or waiting for the GIL (threads gone since are not counted)."""
    return sum(
        proc_field(status, "voluntary_ctxt_switches")
        for pid in process_tree(root_pid) for status in Path(f"/proc/{pid}/task").glob("*/status")
    )


def children_by_parent() -> dict[int, list[int]]:
    # This kernel has no /proc/PID/task/TID/children, so scan every process.
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            children.setdefault(parent_pid(stat.read_text()), []).append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            pass  # the process exited while we looked
    return children


def process_tree(root_pid: int, children: dict[int, list[int]] | None = None) -> list[int]:
    """root_pid and its descendants; `children` saves another scan of /proc when it was just made."""
    children = children_by_parent() if children is None else children
    tree, pending = [], [root_pid]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending += children.get(pid, [])
    return tree


def proc_field(path: Path, field: str) -> int:
    """The number on a "Field:   123 kB" line of a /proc file; 0 once its process or thread is gone."""
    try:
        for line in path.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def rss_kib(pid: int) -> int:
    return proc_field(Path(f"/proc/{pid}/status"), "VmRSS")


def pss_kib(pid: int) -> int:
    return proc_field(Path(f"/proc/{pid}/smaps_rollup"), "Pss")


class PeakMemory:
    """Samples a process tree in a background thread until stopped; keeps the peaks."""

    def __init__(self, root_pid: int):
        self.root_pid = root_pid
        self.peak_rss_kib = 0
        self.peak_pss_kib = 0
        self.peak_rss_by_pid: dict[int, int] = {}
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_stopped, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stopped.set()
        self._thread.join()

    def _sample_until_stopped(self):
        while True:
            self.sample()
            if self._stopped.wait(SAMPLE_INTERVAL_SECONDS):
                return

    def sample(self) -> None:
        pids = process_tree(self.root_pid)
        rss = {pid: rss_kib(pid) for pid in pids}
        self.peak_rss_kib = max(self.peak_rss_kib, sum(rss.values()))
        self.peak_pss_kib = max(self.peak_pss_kib, sum(pss_kib(pid) for pid in pids))
        for pid, kib in rss.items():
            self.peak_rss_by_pid[pid] = max(self.peak_rss_by_pid.get(pid, 0), kib)
