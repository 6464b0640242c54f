"""How the generated server takes connections, as a router in front of it
uses them: it keeps a connection open between requests (the router reuses
it) and closes one left idle longer than GUNICORN_KEEPALIVE; the idle
connections a router keeps open do not stop a worker from serving new
ones; with PORT set it answers on IPv6 and IPv4."""

import http.client
import re
import shlex
import socket
import subprocess
import time

import pytest
from support.load import VIA_HTTPS, at_once
from support.network import wait_for_http_200
from support.project import procfile_command, production_env, running_server, stop_server

pytestmark = pytest.mark.slow

SLOW_SECONDS = 1


@pytest.fixture
def start(fault_project, project_python, tmp_path):
    def start(**env):
        environment = production_env(project_python, **env)
        return running_server(procfile_command(fault_project, "web"), fault_project, environment, tmp_path / "gunicorn.log")

    return start


def kept_alive_connection(port):
    """A connection that has had one answer and is kept open, as a router keeps its own."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/healthz")
    response = connection.getresponse()
    response.read()
    assert response.getheader("Connection") != "close"
    return connection


def test_idle_connections_a_router_keeps_open_do_not_keep_a_worker_from_taking_new_ones(start):
    """A worker of four threads holding forty idle kept-alive connections
    still runs four slow requests on new connections at once."""
    with start(WEB_CONCURRENCY="1", GUNICORN_THREADS="4") as server:
        idle = [kept_alive_connection(server.port) for _ in range(40)]
        started = time.monotonic()
        outcomes = at_once(server.port, [f"/faults/slow?seconds={SLOW_SECONDS}"] * 4)
        for connection in idle:
            connection.close()

    took = sorted(outcome.ended - started for outcome in outcomes)
    print(f"\n[idle kept alive] 4 requests of {SLOW_SECONDS} s beside 40 idle connections answered after {[round(t, 2) for t in took]} s")
    assert [outcome.status for outcome in outcomes] == [200] * 4
    assert took[3] < SLOW_SECONDS * 1.6


def test_a_routers_connection_is_kept_open_and_reused_for_request_after_request(start):
    with start() as server:
        connection = kept_alive_connection(server.port)
        local_ports = set()
        for _ in range(5):
            connection.request("GET", "/", headers=VIA_HTTPS)
            response = connection.getresponse()
            response.read()
            local_ports.add(connection.sock.getsockname()[1])
            assert response.status == 200
            assert response.getheader("Connection") != "close"
        connection.close()

    assert len(local_ports) == 1  # one connection served all five


def test_a_connection_left_idle_longer_than_gunicorn_keepalive_is_closed(start):
    with start(GUNICORN_KEEPALIVE="1") as server:
        connection = kept_alive_connection(server.port)
        connection.sock.settimeout(5)
        idle_since = time.monotonic()
        closed = connection.sock.recv(1) == b""  # the server's close ends the wait
        idle_for = time.monotonic() - idle_since
        connection.close()

    print(f"\n[keep-alive 1 s] the idle connection was closed after {idle_for:.2f} s")
    assert closed
    # gunicorn looks for expired connections about once a second.
    assert 0.9 < idle_for < 3


def test_with_gunicorn_keepalive_0_every_answer_closes_its_connection(start):
    with start(GUNICORN_KEEPALIVE="0") as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.request("GET", "/", headers={**VIA_HTTPS, "Connection": "keep-alive"})
        response = connection.getresponse()
        response.read()
        connection.close()

    assert response.status == 200
    assert response.getheader("Connection") == "close"


def test_with_port_set_the_server_answers_on_ipv6_and_ipv4(fault_project, project_python, tmp_path):
    """The start command as a platform runs it: PORT alone says where to listen."""
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
            port = probe.getsockname()[1]
    except OSError as error:
        pytest.skip(f"no IPv6 loopback on this machine: {error}")
    environment = production_env(project_python, PORT=str(port), DJANGO_ALLOWED_HOSTS="127.0.0.1,[::1]")
    with open(tmp_path / "gunicorn.log", "w") as log:
        process = subprocess.Popen(
            shlex.split(procfile_command(fault_project, "web")), cwd=fault_project, env=environment,
            stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        wait_for_http_200(port, process=process)
        answers, remote_addrs = {}, {}
        for host in ("::1", "127.0.0.1"):
            connection = http.client.HTTPConnection(host, port, timeout=10)
            connection.request("GET", "/", headers=VIA_HTTPS)
            response = connection.getresponse()
            response.read()
            answers[host] = response.status
            connection.request("GET", "/faults/remote-addr", headers=VIA_HTTPS)
            remote_addrs[host] = connection.getresponse().read().decode()
            connection.close()
    finally:
        stop_server(process)
    log = (tmp_path / "gunicorn.log").read_text()

    assert f"Listening at: http://[::]:{port}" in log
    assert answers == {"::1": 200, "127.0.0.1": 200}
    # Where one socket takes both (Linux's default), an IPv4 client reaches
    # Django IPv4-mapped; the access log writes it as IPv4 either way.
    with socket.socket(socket.AF_INET6) as probe:
        dual_stack = not probe.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
    assert remote_addrs == {"::1": "::1", "127.0.0.1": "::ffff:127.0.0.1" if dual_stack else "127.0.0.1"}
    # Access lines, after the time, level, logger and request id: the client first.
    assert re.search(r' gunicorn\.access \S+ 127\.0\.0\.1 "GET /faults/remote-addr HTTP/1\.1" 200', log)
    assert re.search(r' gunicorn\.access \S+ ::1 "GET /faults/remote-addr HTTP/1\.1" 200', log)
