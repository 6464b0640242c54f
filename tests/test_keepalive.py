"""Kept-alive connections, as a load balancer or a browser reuses them.

The generated gthread worker serves the next request on a connection in the
thread that answered the last one, if it comes within a moment and another
thread is free, and hands the connection back to gunicorn's main loop
otherwise. Whichever way a request arrives (at once, pipelined behind the
last one, after the moment, long after, behind a body the view never read),
it must be answered, in order, on the same connection; and connections kept
busy must not keep a new one waiting. The worker also sends each small
answer whole, headers and body in one TCP packet.
"""

import socket
import struct
import threading
import time

import pytest
from support.network import http_get
from support.project import procfile_command, production_env, running_server

pytestmark = pytest.mark.slow

# Where Linux's struct tcp_info (linux/tcp.h, since 4.6) keeps
# tcpi_data_segs_in: the TCP packets with data a socket has received.
TCP_INFO_SIZE = 232
TCPI_DATA_SEGS_IN_OFFSET = 152


@pytest.fixture(scope="module")
def server(built_project, project_python, tmp_path_factory):
    env = production_env(project_python)
    with running_server(procfile_command(built_project, "web"), built_project, env, tmp_path_factory.mktemp("gunicorn") / "log") as server:
        yield server


class Connection:
    """One client connection, speaking HTTP/1.1 by hand so that nothing is hidden."""

    def __init__(self, port):
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.received = b""

    def send(self, *requests):
        self.socket.sendall(b"".join(requests))

    def response(self):
        """(status, body) of the next response on the connection."""
        while b"\r\n\r\n" not in self.received:
            self.read_more()
        head, self.received = self.received.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode().split("\r\n")
        headers = {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in header_lines)}
        if headers.get("transfer-encoding") == "chunked":
            body = self.chunked_body()
        else:
            body = self.exactly(int(headers["content-length"]))
        assert headers.get("connection", "keep-alive").lower() == "keep-alive", head
        return int(status_line.split()[1]), body

    def chunked_body(self):
        body = b""
        while True:
            while b"\r\n" not in self.received:
                self.read_more()
            size_line, self.received = self.received.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            chunk = self.exactly(size + 2)[:size]  # each chunk ends with CRLF
            if size == 0:
                return body
            body += chunk

    def exactly(self, length):
        while len(self.received) < length:
            self.read_more()
        data, self.received = self.received[:length], self.received[length:]
        return data

    def read_more(self):
        chunk = self.socket.recv(65536)
        if not chunk:
            raise ConnectionError(f"the server closed the connection; unread: {self.received!r}")
        self.received += chunk

    def data_packets_received(self):
        tcp_info = self.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCP_INFO_SIZE)
        return struct.unpack_from("I", tcp_info, TCPI_DATA_SEGS_IN_OFFSET)[0]

    def close(self):
        self.socket.close()


def get(path):
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Proto: https\r\n\r\n".encode()


def post(path, body):
    return f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


@pytest.fixture
def connection(server):
    connection = Connection(server.port)
    yield connection
    connection.close()


@pytest.mark.parametrize("pause_seconds", [0, 0.0005, 0.005, 1.5], ids=["at-once", "within-the-wait", "after-the-wait", "long-after"])
def test_the_next_request_on_a_connection_is_answered_whenever_it_comes(connection, pause_seconds):
    answers = []
    for path in ("/", "/healthz", "/", "/healthz"):
        connection.send(get(path))
        answers.append(connection.response())
        time.sleep(pause_seconds)

    assert [status for status, _ in answers] == [200, 200, 200, 200]
    assert [body == b"ok" for _, body in answers] == [False, True, False, True]


def test_pipelined_requests_are_answered_in_order(connection):
    connection.send(get("/healthz"), get("/"), get("/no-such-page"), get("/healthz"))

    statuses = [connection.response()[0] for _ in range(4)]

    assert statuses == [200, 200, 404, 200]


def test_a_request_after_a_body_the_view_never_read_is_answered(connection):
    # The health check answers without reading the body, which gunicorn
    # must skip to find the next request (it does up to 64 KiB; past that it
    # closes the connection instead).
    connection.send(post("/healthz", b"x" * 60_000))
    first = connection.response()
    connection.send(get("/healthz"))

    assert first == (200, b"ok")
    assert connection.response() == (200, b"ok")


def test_a_client_closing_its_connection_is_answered_with_a_close(connection):
    connection.send(get("/healthz"))
    connection.response()
    connection.socket.shutdown(socket.SHUT_WR)

    assert connection.socket.recv(1) == b""


@pytest.mark.parametrize("path", ["/", "/healthz"])
def test_each_small_answer_reaches_the_client_in_one_packet(connection, path):
    """Status line, headers and body in one packet, where gunicorn's own worker
    sends two (and three for an answer of unknown length, in chunks)."""
    packets = []
    for _ in range(3):  # the first request on a connection, and the next ones
        before = connection.data_packets_received()
        connection.send(get(path))
        status, _ = connection.response()
        packets.append(connection.data_packets_received() - before)

    assert status == 200
    assert packets == [1, 1, 1]


@pytest.fixture(scope="module")
def two_thread_server(built_project, project_python, tmp_path_factory):
    env = production_env(project_python, WEB_CONCURRENCY="1", GUNICORN_THREADS="2")
    with running_server(procfile_command(built_project, "web"), built_project, env, tmp_path_factory.mktemp("gunicorn") / "log") as server:
        yield server


def test_connections_kept_busy_do_not_keep_a_new_connection_waiting(two_thread_server):
    """Three connections send request after request to one worker with two
    threads; a client connecting meanwhile is still answered at once."""
    stop = threading.Event()
    answered = []

    def keep_busy():
        connection = Connection(two_thread_server.port)
        while not stop.is_set():
            connection.send(get("/healthz"))
            answered.append(connection.response()[0])
        connection.close()

    clients = [threading.Thread(target=keep_busy) for _ in range(3)]
    for client in clients:
        client.start()
    try:
        time.sleep(0.5)
        waits = []
        for _ in range(5):
            started = time.monotonic()
            assert http_get(two_thread_server.port, "/healthz", timeout=10)[0] == 200
            waits.append(time.monotonic() - started)
    finally:
        stop.set()
        for client in clients:
            client.join()

    assert max(waits) < 1.0, waits
    assert len(answered) > 100 and set(answered) == {200}
