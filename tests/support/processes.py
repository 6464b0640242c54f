"""Gunicorn's processes as Linux shows them in /proc, and a sampler to watch them by."""

import os
import threading
import time
from pathlib import Path

TCP_LISTEN = "0A"  # as /proc/net/tcp writes the state


def child_pids(parent_pid):
    """The live (not zombie) children of `parent_pid`: gunicorn's workers."""
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (name) state ppid ...": the name may hold spaces, so split after it.
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # the process has just gone
            continue
        if int(fields[1]) == parent_pid and fields[0] != "Z":
            children.add(int(stat.parent.name))
    return children


def wait_for_workers(master_pid, count, timeout=30, excluding=()):
    """Wait until the master has `count` workers, none of them in `excluding`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = child_pids(master_pid)
        if len(workers) == count and not workers & set(excluding):
            return workers
        time.sleep(0.05)
    raise AssertionError(f"master {master_pid} has workers {child_pids(master_pid)}, wanted {count} not in {set(excluding)}")


def pid_serving(client_socket, candidates):
    """Which of `candidates` holds the server end of `client_socket`'s connection."""
    client_port = client_socket.getsockname()[1]
    server_port = client_socket.getpeername()[1]
    inodes = [inode for local, remote, _, inode in tcp_sockets() if (local, remote) == (server_port, client_port)]
    assert inodes, f"no server socket for client port {client_port}"
    for pid in candidates:
        if inodes[-1] in socket_inodes(pid):
            return pid
    raise AssertionError(f"none of {candidates} holds socket {inodes[-1]}")


def holds_listening_socket(pid, port):
    """Whether process `pid` still has the socket listening on 127.0.0.1:`port` open."""
    listening = {inode for local, _, state, inode in tcp_sockets() if local == port and state == TCP_LISTEN}
    return bool(listening & socket_inodes(pid))


def connections_to(pid, port):
    """How many TCP connections process `pid` holds to 127.0.0.1:`port` (say, a database server)."""
    return len({inode for _, remote, _, inode in tcp_sockets() if remote == port} & socket_inodes(pid))


def tcp_sockets():
    """(local port, remote port, state, inode) of each IPv4 TCP socket, from /proc/net/tcp."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        yield int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16), fields[3], fields[9]


def socket_inodes(pid):
    """The inodes of the sockets process `pid` has open."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def memory_kib(pid):
    """Linux's memory counters of a process (Rss, Pss, Private_Dirty, ...), in KiB."""
    # After a first line that names the address range, "Name:  value kB" lines.
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
    return {name.rstrip(":"): int(value) for name, value, _unit in (line.split() for line in rollup)}


class PeakSampler:
    """Calls `count()` every few milliseconds, in a thread, for as long as the
    with block runs; `peak` is the largest count it returned."""

    INTERVAL_SECONDS = 0.005

    def __init__(self, count):
        self.count = count
        self.peak = 0
        self._stop = threading.Event()

    def __enter__(self):
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.count())
            time.sleep(self.INTERVAL_SECONDS)
