"""What plumbing/server/gunicorn_internals.py does with gunicorn beyond its documented
settings: the check of the installed release, and, on real sockets on
loopback, a full stop that ignores new connection requests before the
workers close the listening socket.

The checks of what the runtime uses run against the newest release it was
tested with, whatever gunicorn is installed: a newer one (a dependency
update) runs gunicorn's own behaviour instead, and this suite still passes."""

import socket
import sys
from types import SimpleNamespace

import gunicorn
import pytest

from {{ cookiecutter.project_slug }}.plumbing.server import gunicorn_internals
from {{ cookiecutter.project_slug }}.plumbing.server.gunicorn_internals import drop_connection_requests, refuse_new_connections_on_stop

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="socket filters are Linux only")

# Linux's option to read a socket's filter back; the same number as the one that attaches it.
SO_GET_FILTER = 26
# Long enough for a connection on loopback, far shorter than TCP's 1 s before it asks again.
CONNECT_TIMEOUT_SECONDS = 0.3


def as_release(monkeypatch, release):
    monkeypatch.setattr(gunicorn, "version_info", release)
    monkeypatch.setattr(gunicorn, "__version__", ".".join(map(str, release)))


@pytest.fixture
def newest_tested_release(monkeypatch):
    """The installed gunicorn's code, as if it were the newest release the runtime was tested with."""
    as_release(monkeypatch, gunicorn_internals.TESTED_GUNICORN[1])


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


@linux_only
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


@linux_only
def test_a_unix_socket_is_left_without_the_filter_meant_for_tcp(tmp_path):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(tmp_path / "gunicorn.sock"))
    listener.listen(16)

    drop_connection_requests(listener)

    # Linux answers how many instructions the socket's filter has: none at all.
    assert listener.getsockopt(socket.SOL_SOCKET, SO_GET_FILTER) == 0
    listener.close()


def fake_master(listener, **state):
    """As much of gunicorn's Arbiter as gunicorn_internals uses.

    Its stop() notes whether the socket still took connections."""
    master = SimpleNamespace(
        LISTENERS=[SimpleNamespace(sock=listener)], reexec_pid=0, master_pid=0, systemd=False, stops=[]
    )
    address = listener.getsockname()[:2]
    master.stop = lambda graceful=True: master.stops.append((graceful, takes_new_connections(address)))
    for name, value in state.items():
        setattr(master, name, value)
    return master


@linux_only
def test_a_graceful_full_stop_ignores_new_connections_before_gunicorn_stops():
    listener = listening_socket()
    master = fake_master(listener)
    refuse_new_connections_on_stop(master)

    master.stop()

    assert master.stops == [(True, False)]
    listener.close()


@linux_only
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


# --- The check of the installed gunicorn -----------------------------------------


def test_the_installed_gunicorn_passes_the_check_or_is_named_as_untested():
    listener = listening_socket()
    lowest, newest = gunicorn_internals.TESTED_GUNICORN
    if lowest <= tuple(gunicorn.version_info) <= newest:
        assert gunicorn_internals.unsupported() is None
        assert gunicorn_internals.unsupported(fake_master(listener)) is None
    else:
        assert gunicorn_internals.unsupported().startswith(f"gunicorn {gunicorn.__version__} is outside the releases")
    listener.close()


def test_the_installed_gunicorns_code_and_arbiter_have_what_the_runtime_uses(newest_tested_release):
    listener = listening_socket()
    assert gunicorn_internals.unsupported() is None
    assert gunicorn_internals.unsupported(fake_master(listener)) is None
    listener.close()


@pytest.mark.parametrize("release", gunicorn_internals.TESTED_GUNICORN, ids=["oldest", "newest"])
def test_the_oldest_and_the_newest_tested_releases_pass_the_check(monkeypatch, release):
    as_release(monkeypatch, release)

    assert gunicorn_internals.unsupported() is None


@pytest.mark.parametrize("release", [(24, 1, 1), (27, 9, 0), (99, 0, 0)], ids=["older", "newer minor", "newer"])
def test_a_release_outside_the_tested_range_is_named_with_the_range(monkeypatch, release):
    as_release(monkeypatch, release)
    lowest, newest = (".".join(map(str, version)) for version in gunicorn_internals.TESTED_GUNICORN)

    assert gunicorn_internals.unsupported() == (
        f"gunicorn {gunicorn.__version__} is outside the releases this project's server runtime "
        f"was tested with ({lowest} to {newest})"
    )


def test_a_logger_whose_access_takes_other_arguments_fails_the_check(monkeypatch, newest_tested_release):
    monkeypatch.setattr(gunicorn_internals.Logger, "access", lambda self, response, request: None)

    assert "Logger.access() no longer takes (resp, req, environ, request_time)" in gunicorn_internals.unsupported()


@pytest.mark.parametrize("missing", ["atoms", "atoms_wrapper_class"])
def test_a_logger_without_what_the_access_line_is_made_of_fails_the_check(monkeypatch, newest_tested_release, missing):
    monkeypatch.delattr(gunicorn_internals.Logger, missing)

    assert "Logger has no atoms() or atoms_wrapper_class" in gunicorn_internals.unsupported()


def test_an_arbiter_stop_without_graceful_fails_the_check(monkeypatch, newest_tested_release):
    monkeypatch.setattr(gunicorn_internals.Arbiter, "stop", lambda self: None)

    assert "Arbiter.stop() takes no `graceful`" in gunicorn_internals.unsupported()


@pytest.mark.parametrize("missing", gunicorn_internals.ARBITER_ATTRIBUTES)
def test_an_arbiter_without_an_attribute_the_stop_reads_fails_the_check_naming_it(missing, newest_tested_release):
    listener = listening_socket()
    master = fake_master(listener)
    delattr(master, missing)

    assert gunicorn_internals.unsupported(master).endswith(f"arbiter has no {missing}")
    listener.close()


def test_an_arbiter_without_several_attributes_fails_the_check_naming_each(newest_tested_release):
    listener = listening_socket()
    master = fake_master(listener)
    del master.reexec_pid, master.systemd

    unsupported = gunicorn_internals.unsupported(master)

    assert unsupported == f"gunicorn {gunicorn.__version__}'s arbiter has no reexec_pid, systemd"
    listener.close()


def test_an_arbiter_with_a_listener_that_has_no_socket_fails_the_check(newest_tested_release):
    listener = listening_socket()
    master = fake_master(listener)
    master.LISTENERS.append(SimpleNamespace())

    unsupported = gunicorn_internals.unsupported(master)

    assert unsupported == f"gunicorn {gunicorn.__version__}'s arbiter has no socket on each listener"
    listener.close()
