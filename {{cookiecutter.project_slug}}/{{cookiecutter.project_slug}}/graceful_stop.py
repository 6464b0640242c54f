"""
On a full stop, stop taking new connections before the workers close the listening socket.

When gunicorn stops for good (SIGTERM from a platform, `docker stop`), each
worker serves the connections waiting in the listening socket's queue and
closes its copy of the socket (gthread.py), so that new connections are
refused at once and a load balancer retries them elsewhere. But the kernel
goes on completing connections until the last copy is closed, and resets
any still queued then: one that completes between the last worker's final
look at the queue and its close has sent its request and gets a reset,
which a load balancer does not retry for a POST.

So the master first makes the socket ignore new connection requests (TCP
SYNs), with a socket filter, and only then tells the workers to stop. The
queue then only shrinks: connections already in it, or half-way through
their handshake, are served; a client that knocks meanwhile tries again
after a second (TCP does), by when the socket is closed and it is refused.

Only on a graceful stop of the only master using the socket: on a reload
(SIGHUP) new workers go on with the same socket, and so does a new master
after a binary upgrade (SIGUSR2), or systemd when it handed the socket over.
Linux only; elsewhere the stop goes on as before.
"""

import ctypes
import socket
import struct
import sys

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
    instructions = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *step) for step in DROP_CONNECTION_REQUESTS))
    program = struct.pack("HP", len(DROP_CONNECTION_REQUESTS), ctypes.addressof(instructions))
    try:
        listening_socket.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, program)
    except OSError:
        pass  # a sandboxed kernel without socket filters (e.g. gVisor): stop as before
