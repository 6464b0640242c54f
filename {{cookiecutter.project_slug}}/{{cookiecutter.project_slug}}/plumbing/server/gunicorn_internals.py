"""
Everything this project does with gunicorn beyond its documented settings and hooks.

Gunicorn's documented settings and server hooks (gunicorn.conf.py) are
stable across releases; what is here is not, so it lives in this one file,
is checked before any worker starts, and is used only with the gunicorn
releases it was tested with (TESTED_GUNICORN; the requirements pin that
range). With any other release, or with a name it relies on missing, the
project runs gunicorn's own behaviour instead and says so in one line at
start-up: it never starts and then fails requests.

Two things:

1. The access logger (access_log.py) overrides the logger's access()
   method, which gunicorn calls with (resp, req, environ, request_time),
   and writes the line itself from the logger's atoms() and
   atoms_wrapper_class, as gunicorn's own access() does.

2. On a full stop (SIGTERM from a platform, `docker stop`), the master makes
   the listening socket ignore new connection requests before it tells the
   workers to stop. Each worker stops accepting at once and finishes the
   requests it has, for up to `graceful_timeout`, keeping its copy of the
   listening socket open meanwhile; the kernel goes on completing new
   connections that no one will accept, and resets them when the last
   worker exits, failing the requests sent on them. With
   the filter (a classic BPF program that drops TCP SYNs), a client that
   knocks meanwhile tries again a second later, as TCP does, by when the
   socket is closed and it is refused outright, which a load balancer
   retries elsewhere. This replaces the arbiter's stop() and reads its
   LISTENERS, reexec_pid, master_pid and systemd. Only on a graceful stop
   of the only master using the socket: on a reload (SIGHUP) new workers go
   on with the same socket, and so does a new master after a binary upgrade
   (SIGUSR2), or systemd when it handed the socket over. Linux only;
   elsewhere the stop goes on as gunicorn's own.
"""

import ctypes
import inspect
import socket
import struct
import sys

import gunicorn
from gunicorn.arbiter import Arbiter
from gunicorn.glogging import Logger

# The oldest and newest releases this file was tested with (CI runs both).
TESTED_GUNICORN = ((25, 0, 0), (27, 0, 1))
ARBITER_ATTRIBUTES = ("stop", "LISTENERS", "reexec_pid", "master_pid", "systemd")

# Linux's socket option for a classic BPF filter; Python does not name it.
SO_ATTACH_FILTER = 26

# The filter, run on every TCP segment that reaches the listening socket,
# which starts at the TCP header: drop a segment with SYN set and ACK clear
# (a new connection request), let everything else through. Connections
# accepted afterwards inherit the filter; it lets all their segments through.
TCP_FLAGS_OFFSET = 13
SYN, ACK = 0x02, 0x10
DROP_CONNECTION_REQUESTS = [
    # (code, jump if true, jump if false, constant), as in struct sock_filter
    (0x30, 0, 0, TCP_FLAGS_OFFSET),  # load the flags byte
    (0x54, 0, 0, SYN | ACK),  # keep only those two flags
    (0x15, 0, 1, SYN),  # SYN alone? go on to drop, else skip to keep
    (0x06, 0, 0, 0),  # drop
    (0x06, 0, 0, 0xFFFFFFFF),  # keep
]


def unsupported(server=None):
    """Why this file cannot be used with the gunicorn installed, in one line; None when it can.

    Without `server` (gunicorn.conf.py, as it loads) the release and the
    logger are checked; with the master's Arbiter, its attributes too.
    """
    lowest, newest = TESTED_GUNICORN
    if not lowest <= tuple(gunicorn.version_info) <= newest:
        return (
            f"gunicorn {gunicorn.__version__} is outside the releases this project's server runtime was tested with "
            f"({dotted(lowest)} to {dotted(newest)})"
        )
    if list(inspect.signature(Logger.access).parameters) != ["self", "resp", "req", "environ", "request_time"]:
        return f"gunicorn {gunicorn.__version__}'s Logger.access() no longer takes (resp, req, environ, request_time)"
    if not all(hasattr(Logger, name) for name in ("atoms", "atoms_wrapper_class")):
        return f"gunicorn {gunicorn.__version__}'s Logger has no atoms() or atoms_wrapper_class"
    if "graceful" not in inspect.signature(Arbiter.stop).parameters:
        return f"gunicorn {gunicorn.__version__}'s Arbiter.stop() takes no `graceful`"
    if server is not None:
        missing = [name for name in ARBITER_ATTRIBUTES if not hasattr(server, name)]
        missing += (
            ["socket on each listener"]
            if not all(hasattr(listener, "sock") for listener in getattr(server, "LISTENERS", []))
            else []
        )
        if missing:
            return f"gunicorn {gunicorn.__version__}'s arbiter has no {', '.join(missing)}"
    return None


def dotted(version):
    return ".".join(map(str, version))


def refuse_new_connections_on_stop(server):
    """Make gunicorn's master (`server`) drop new connection requests before a full, graceful stop."""
    stop = server.stop

    def stop_after_refusing_new_connections(graceful=True):
        if graceful and only_master_of_its_sockets(server):
            for listener in server.LISTENERS:
                drop_connection_requests(listener.sock)
        stop(graceful)

    server.stop = stop_after_refusing_new_connections


def only_master_of_its_sockets(server):
    # gunicorn's own test before it unlinks a UNIX socket on stop.
    return server.reexec_pid == server.master_pid == 0 and not server.systemd


def drop_connection_requests(listening_socket):
    """From now on, drop new connection requests to this TCP socket; a no-op off Linux or for UNIX sockets."""
    if not sys.platform.startswith("linux") or listening_socket.family not in (socket.AF_INET, socket.AF_INET6):
        return
    instructions = ctypes.create_string_buffer(
        b"".join(struct.pack("HBBI", *step) for step in DROP_CONNECTION_REQUESTS)
    )
    program = struct.pack("HP", len(DROP_CONNECTION_REQUESTS), ctypes.addressof(instructions))
    try:
        listening_socket.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, program)
    except OSError:
        pass  # a sandboxed kernel without socket filters (e.g. gVisor): stop as before
