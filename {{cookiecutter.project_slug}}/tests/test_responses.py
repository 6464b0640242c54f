"""The worker's responses: what gunicorn's own would send, in fewer system calls.

Each test serves one response twice, through gunicorn's Response and through
the worker's (gthread.Response), to a socket that records every sendall(),
and compares what the client receives and in how many sends.
"""

import re

import pytest
from gunicorn.config import Config
from gunicorn.http import wsgi
from gunicorn.http.parser import RequestParser

from {{ cookiecutter.project_slug }}.gthread import Response

CLIENT = ("127.0.0.1", 50000)
SERVER = ("127.0.0.1", 8000)

# The only header that may differ between two responses a second apart.
DATE_HEADER = re.compile(rb"\r\nDate: [^\r]*\r\n")


class RecordingSocket:
    def __init__(self):
        self.sends = []

    def sendall(self, data):
        self.sends.append(bytes(data))


def serve(response_class, method, status, headers, body_parts, sock=None):
    """Every sendall() of one response, as gunicorn's gthread worker would make it."""
    config = Config()
    request_bytes = f"{method} /page HTTP/1.1\r\nHost: example.com\r\n\r\n".encode()
    request = next(RequestParser(config, iter([request_bytes]), CLIENT))
    sock = sock or RecordingSocket()
    response, _ = wsgi.create(request, sock, CLIENT, SERVER, config, response_class=response_class)
    response.start_response(status, headers)
    for part in body_parts:
        response.write(part)
    response.close()
    return sock.sends


def received(sends):
    return DATE_HEADER.sub(b"\r\nDate: -\r\n", b"".join(sends))


PAGE = [("Content-Type", "text/html"), ("Content-Length", "11")]


@pytest.mark.parametrize(
    ("method", "status", "headers", "body_parts", "sends_saved"),
    [
        pytest.param("GET", "200 OK", PAGE, [b"<p>hi</p>\r\n"], 1, id="page-with-length"),
        pytest.param("GET", "200 OK", PAGE, [b"<p>", b"hi</p>\r\n"], 1, id="page-in-two-parts"),
        pytest.param("GET", "200 OK", [("Content-Length", "3")], [b"truncated"], 1, id="body-longer-than-length"),
        pytest.param("GET", "200 OK", [("Content-Type", "text/plain")], [b"no ", b"length"], 0, id="chunked"),
        pytest.param("HEAD", "200 OK", PAGE, [b"<p>hi</p>\r\n"], 0, id="head"),
        pytest.param("GET", "304 Not Modified", [("ETag", '"v1"')], [], 0, id="not-modified"),
        pytest.param("GET", "204 No Content", [], [b""], 0, id="no-content"),
        pytest.param("GET", "200 OK", [("Content-Length", "0")], [b"", b"ignored"], 0, id="empty-with-length"),
        pytest.param("GET", "200 OK", [("Content-Length", "0")], [b"ignored"], 0, id="body-beyond-length-zero"),
    ],
)
def test_a_response_is_gunicorns_own_in_fewer_sends(method, status, headers, body_parts, sends_saved):
    gunicorns = serve(wsgi.Response, method, status, headers, body_parts)
    ours = serve(Response, method, status, headers, body_parts)

    assert received(ours) == received(gunicorns)
    assert len(ours) == len(gunicorns) - sends_saved


def test_a_small_page_leaves_in_one_send_with_its_headers():
    (send,) = serve(Response, "GET", "200 OK", PAGE, [b"<p>hi</p>\r\n"])

    assert send.startswith(b"HTTP/1.1 200 OK\r\n")
    assert send.endswith(b"\r\n\r\n<p>hi</p>\r\n")


def test_a_body_that_is_not_bytes_is_refused_as_gunicorn_refuses_it():
    sent = {}
    for response_class in (wsgi.Response, Response):
        sock = RecordingSocket()
        with pytest.raises(TypeError):
            serve(response_class, "GET", "200 OK", PAGE, ["<p>hi</p>\r\n"], sock)
        sent[response_class] = received(sock.sends)

    assert sent[Response] == sent[wsgi.Response]
