"""A full stop ignores new connection requests before the workers close the
listening socket (graceful_stop.py), on real sockets on loopback."""

import socket
import sys
from types import SimpleNamespace

import pytest

from {{ cookiecutter.project_slug }}.graceful_stop import drop_connection_requests, refuse_new_connections_on_stop

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="socket filters are Linux only")

# Long enough for a connection on loopback, far shorter than TCP's 1 s before it asks again.
CONNECT_TIMEOUT_SECONDS = 0.3


def listening_socket(family=socket.AF_INET):
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.bind((host, 0))
    except OSError as error:
        listener.close()
        pytest.skip(f"no {host} loopback here: {error}")
    listener.listen(16)
    return listener


def connect(address):
    return socket.create_connection(address, timeout=CONNECT_TIMEOUT_SECONDS)


def takes_new_connections(address):
    try:
        connect(address).close()
    except TimeoutError:
        return False
    return True


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6], ids=["IPv4", "IPv6"])
def test_a_socket_ignoring_new_connections_still_hands_over_the_queued_ones_and_refuses_once_closed(family):
    listener = listening_socket(family)
    address = listener.getsockname()[:2]
    queued = connect(address)

    drop_connection_requests(listener)

    assert not takes_new_connections(address)
    accepted, _ = listener.accept()
    queued.sendall(b"GET / HTTP/1.1\r\n\r\n")
    assert accepted.recv(100) == b"GET / HTTP/1.1\r\n\r\n"
    accepted.sendall(b"HTTP/1.1 200 OK\r\n")
    assert queued.recv(100) == b"HTTP/1.1 200 OK\r\n"
    listener.close()
    with pytest.raises(ConnectionRefusedError):
        connect(address)
    accepted.close()
    queued.close()


def fake_master(listener, **state):
    """As much of gunicorn's Arbiter as graceful_stop uses; its stop() notes whether the socket still took connections."""
    master = SimpleNamespace(LISTENERS=[SimpleNamespace(sock=listener)], reexec_pid=0, master_pid=0, systemd=False, stops=[])
    address = listener.getsockname()[:2]
    master.stop = lambda graceful=True: master.stops.append((graceful, takes_new_connections(address)))
    for name, value in state.items():
        setattr(master, name, value)
    return master


def test_a_graceful_full_stop_ignores_new_connections_before_gunicorn_stops():
    listener = listening_socket()
    master = fake_master(listener)
    refuse_new_connections_on_stop(master)

    master.stop()

    assert master.stops == [(True, False)]
    listener.close()


@pytest.mark.parametrize(
    "graceful, state",
    [
        (False, {}),  # SIGINT or SIGQUIT: no grace for anyone
        (True, {"reexec_pid": 4242}),  # a new master, after SIGUSR2, shares the socket
        (True, {"master_pid": 4242}),  # this is that new master, and the old one is still up
        (True, {"systemd": True}),  # systemd holds the socket too
    ],
    ids=["not graceful", "new master running", "old master running", "socket from systemd"],
)
def test_a_stop_that_leaves_the_socket_to_others_lets_it_take_connections(graceful, state):
    listener = listening_socket()
    master = fake_master(listener, **state)
    refuse_new_connections_on_stop(master)

    master.stop(graceful)

    assert master.stops == [(graceful, True)]
    listener.close()
