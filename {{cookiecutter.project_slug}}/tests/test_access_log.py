"""The access log gunicorn.conf.py sets up: one line per request worth reading, naming the client
the trusted proxies vouch for.

Each test gives the logger gunicorn's own settings object with the line
format gunicorn.conf.py sets, as gunicorn does, and reads back what it
wrote: to a file, or to stdout.
"""

import io
import logging
import re
import runpy
import socket
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import gunicorn
import pytest
from gunicorn.config import Config
from gunicorn.workers.base import Worker

from {{ cookiecutter.project_slug }}.plumbing.server.access_log import AccessLogger

CONF = runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))


def configured(**settings):
    """gunicorn's settings as gunicorn.conf.py makes them, and `settings` on top."""
    config = Config()
    config.set("access_log_format", CONF["access_log_format"])
    for name, value in settings.items():
        config.set(name, value)
    return config


STATUS_PHRASES = {200: "OK", 304: "Not Modified", 404: "Not Found", 503: "Service Unavailable"}


class Response:
    """What gunicorn's logger reads of a response once it is sent."""

    def __init__(self, status_code, sent):
        self.status = f"{status_code} {STATUS_PHRASES[status_code]}"
        self.sent = sent
        self.headers = [("Content-Type", "text/html")]


class Request:
    def __init__(self, headers):
        self.headers = headers


def request(path, status_code=200, sent=512, **environ):
    """(response, request, WSGI environ) of one served request, as gunicorn hands them to the logger."""
    path_info, _, query = path.partition("?")
    headers = [("USER-AGENT", environ.get("HTTP_USER_AGENT", "Mozilla/5.0 (X11)")), ("X-REQUEST-ID", "req-7")]
    wsgi_environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": path,
        "PATH_INFO": path_info,
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.1.2.3",
        "HTTP_USER_AGENT": "Mozilla/5.0 (X11)",
        **environ,
    }
    return Response(status_code, sent), Request(headers), wsgi_environ


@pytest.fixture
def access_log(tmp_path):
    """Log the given requests through AccessLogger; return the lines written."""
    log_file = tmp_path / "access.log"

    def log(*requests, took=timedelta(milliseconds=12, microseconds=700), **settings):
        logger = AccessLogger(configured(**{"accesslog": str(log_file), **settings}))
        for response, req, environ in requests:
            logger.access(response, req, environ, took)
        return log_file.read_text().splitlines() if log_file.exists() else []

    return log


def test_a_request_is_one_line_with_client_request_status_bytes_time_and_user_agent(access_log):
    lines = access_log(request("/orders/?page=2", sent=5120))

    assert lines == ['10.1.2.3 "GET /orders/?page=2 HTTP/1.1" 200 5120B 12ms "Mozilla/5.0 (X11)"']


def test_the_line_carries_its_parts_as_fields_for_the_json_log(access_log, tmp_path):
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("gunicorn.access").addHandler(handler)
    # A reply gunicorn makes itself may come with no path, query or user agent.
    bare_response, bare_request, bare_environ = request("/", status_code=503)
    for name in ("PATH_INFO", "QUERY_STRING", "HTTP_USER_AGENT"):
        del bare_environ[name]
    try:
        access_log(
            request("/orders/?page=2", sent=5120, HTTP_X_FORWARDED_FOR="203.0.113.7"),
            request("/", status_code=304, sent=0),
            (bare_response, bare_request, bare_environ),
            took=timedelta(seconds=1, microseconds=234567),
            forwarded_allow_ips="10.1.2.3",
        )
    finally:
        logging.getLogger("gunicorn.access").removeHandler(handler)

    fields = ("client", "method", "path", "status", "bytes", "duration_ms", "user_agent")
    assert [{name: getattr(record, name) for name in fields} for record in records] == [
        {
            "client": "203.0.113.7",
            "method": "GET",
            "path": "/orders/?page=2",
            "status": 200,
            "bytes": 5120,
            "duration_ms": 1234.6,
            "user_agent": "Mozilla/5.0 (X11)",
        },
        {
            "client": "10.1.2.3",
            "method": "GET",
            "path": "/",
            "status": 304,
            "bytes": 0,
            "duration_ms": 1234.6,
            "user_agent": "Mozilla/5.0 (X11)",
        },
        {
            "client": "10.1.2.3",
            "method": "GET",
            "path": "",
            "status": 503,
            "bytes": 512,
            "duration_ms": 1234.6,
            "user_agent": None,
        },
    ]


def test_quotes_in_the_request_or_the_user_agent_are_escaped_so_no_field_can_be_forged(access_log):
    lines = access_log(request('/search?q="x"', HTTP_USER_AGENT='bot" 500 0B 1ms "'))

    assert lines == ['10.1.2.3 "GET /search?q=\\"x\\" HTTP/1.1" 200 512B 12ms "bot\\" 500 0B 1ms \\""']


def test_passed_health_checks_and_served_static_files_are_left_out(access_log):
    lines = access_log(
        request("/healthz"),
        request("/readyz"),
        request("/static/css/site.0123456789ab.css"),
        request("/static/css/site.0123456789ab.css", status_code=304, sent=0),
        request("/"),
    )

    assert [line.split('"')[1] for line in lines] == ["GET / HTTP/1.1"]


def test_a_failing_health_check_and_a_missing_static_file_are_logged(access_log):
    lines = access_log(
        request("/readyz", status_code=503),
        request("/static/css/missing.css", status_code=404),
    )

    assert [line.split('"')[1] for line in lines] == ["GET /readyz HTTP/1.1", "GET /static/css/missing.css HTTP/1.1"]
    assert [line.split('"')[2].split()[0] for line in lines] == ["503", "404"]


def test_a_custom_access_log_format_is_honoured(access_log):
    lines = access_log(request("/orders/"), request("/healthz"), access_log_format="%(s)s %(U)s %({x-request-id}i)s")

    assert lines == ["200 /orders/ req-7"]


def test_a_reply_gunicorn_makes_itself_with_no_status_on_the_response_is_logged_not_raised(access_log):
    response, req, environ = request("/orders/")
    response.status = None

    assert [line.split('"')[1] for line in access_log((response, req, environ))] == ["GET /orders/ HTTP/1.1"]


def test_a_status_given_as_a_number_as_gunicorns_asgi_worker_gives_it_is_read_the_same(access_log):
    passed_check = request("/healthz")
    missing_file = request("/static/css/missing.css", status_code=404)
    passed_check[0].status, missing_file[0].status = 200, 404

    lines = access_log(passed_check, missing_file)

    assert [line.split('"')[1:3] for line in lines] == [["GET /static/css/missing.css HTTP/1.1", " 404 512B 12ms "]]


def test_the_error_reply_gunicorn_sends_when_the_application_fails_is_logged_with_the_status_it_sent(tmp_path):
    # gunicorn answers 500 itself, and logs its reply with a WSGI environ it builds anew, without PATH_INFO.
    config = configured(accesslog=str(tmp_path / "access.log"), errorlog=str(tmp_path / "error.log"))
    worker = SimpleNamespace(cfg=config, log=AccessLogger(config))
    req = SimpleNamespace(
        method="GET", uri="/orders/?page=2", query="page=2", version=(1, 1), body=io.BytesIO(), headers=[]
    )
    server_side, client_side = socket.socketpair()

    with server_side, client_side:
        Worker.handle_error(worker, req, server_side, ("10.1.2.3", 50000), RuntimeError("the view failed"))
        sent = client_side.recv(100)

    assert sent.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    [line] = (tmp_path / "access.log").read_text().splitlines()
    assert re.fullmatch(r'10\.1\.2\.3 "GET /orders/\?page=2 HTTP/1\.1" 500 0B \d+ms "-"', line)


def clients(access_log, forwarded_allow_ips, *peers_and_forwarded_for):
    """The client each line names, for requests from (peer, X-Forwarded-For or None)."""
    requests = [
        request("/", REMOTE_ADDR=peer, **({} if forwarded_for is None else {"HTTP_X_FORWARDED_FOR": forwarded_for}))
        for peer, forwarded_for in peers_and_forwarded_for
    ]
    return [line.split()[0] for line in access_log(*requests, forwarded_allow_ips=forwarded_allow_ips)]


def test_behind_a_trusted_proxy_the_client_is_the_address_it_names(access_log):
    assert clients(
        access_log,
        "10.0.0.5",
        ("10.0.0.5", "203.0.113.7"),
        ("10.0.0.5", None),
        ("10.0.0.5", ""),
    ) == ["203.0.113.7", "10.0.0.5", "10.0.0.5"]


def test_through_several_proxies_the_client_is_the_rightmost_address_no_trusted_proxy_wrote(access_log):
    # The client wrote 198.51.100.1 itself; 203.0.113.7 is where the first trusted proxy was reached from.
    assert clients(
        access_log,
        "10.0.0.5,10.0.0.6,2001:db8::1",
        ("10.0.0.5", "198.51.100.1, 203.0.113.7, 10.0.0.6"),
        ("10.0.0.5", "198.51.100.1,203.0.113.7,2001:db8::1,10.0.0.6"),
        ("10.0.0.5", "10.0.0.6, 2001:db8::1"),
    ) == ["203.0.113.7", "203.0.113.7", "10.0.0.6"]


def test_a_peer_that_is_no_trusted_proxy_is_the_client_whatever_header_it_sends(access_log):
    assert clients(
        access_log,
        "10.0.0.5",
        ("203.0.113.7", "10.9.9.9"),
        ("203.0.113.7", "10.0.0.5"),
    ) == ["203.0.113.7", "203.0.113.7"]


def test_an_ipv4_address_reported_by_a_socket_that_listens_on_ipv6_too_is_logged_as_ipv4(access_log):
    # gunicorn.conf.py believes each IPv4 proxy in the form such a socket reports it, too.
    assert clients(
        access_log,
        "10.0.0.5,::ffff:10.0.0.5",
        ("::ffff:10.0.0.5", "::ffff:203.0.113.7"),
        ("::ffff:203.0.113.7", "10.9.9.9"),
        ("::ffff:10.0.0.5", "10.0.0.5"),
        ("2001:db8::7", None),
    ) == ["203.0.113.7", "203.0.113.7", "10.0.0.5", "2001:db8::7"]


def test_a_trusted_network_covers_every_proxy_in_it(access_log):
    assert clients(
        access_log,
        "10.0.0.0/8",
        ("10.1.2.3", "203.0.113.7, 10.200.0.1"),
        ("192.168.0.1", "203.0.113.7"),
    ) == ["203.0.113.7", "192.168.0.1"]


def test_with_any_peer_trusted_the_client_is_the_address_the_peer_appended_not_one_a_client_wrote(access_log):
    assert clients(
        access_log,
        "*",
        ("10.1.2.3", "198.51.100.1, 203.0.113.7"),
        ("10.1.2.3", None),
    ) == ["203.0.113.7", "10.1.2.3"]
    assert clients(access_log, "*,10.0.0.0/8", ("10.1.2.3", "198.51.100.1, 203.0.113.7, 10.0.0.6"))[-1] == (
        "203.0.113.7"
    )


def test_entries_of_x_forwarded_for_that_are_no_addresses_are_skipped(access_log):
    assert clients(
        access_log,
        "10.0.0.5",
        ("10.0.0.5", "203.0.113.7, unknown, 203.0.113.8:4711, "),
        ("10.0.0.5", "garbage"),
        ("-", "203.0.113.7"),
    ) == ["203.0.113.7", "10.0.0.5", "-"]


def test_with_no_peer_address_the_client_is_a_dash_as_in_gunicorns_own_log(access_log):
    response, req, environ = request("/", HTTP_X_FORWARDED_FOR="203.0.113.7")
    del environ["REMOTE_ADDR"]

    assert [line.split()[0] for line in access_log((response, req, environ), forwarded_allow_ips="10.0.0.5")] == ["-"]


def test_the_application_keeps_its_own_environ(access_log, tmp_path):
    response, req, environ = request("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.7")
    logger = AccessLogger(configured(accesslog=str(tmp_path / "access.log"), forwarded_allow_ips="10.0.0.5"))

    logger.access(response, req, environ, timedelta(milliseconds=1))

    assert environ["REMOTE_ADDR"] == "10.0.0.5"
    assert (tmp_path / "access.log").read_text().startswith("203.0.113.7 ")


def test_this_logger_is_the_one_gunicorn_conf_py_picks_with_a_tested_gunicorn():
    if CONF["gunicorn_internals_problem"] is None:
        assert CONF["logger_class"] == "{{ cookiecutter.project_slug }}.plumbing.server.access_log.AccessLogger"
    else:  # an untested release (a dependency update) logs with gunicorn's own logger
        assert CONF["gunicorn_internals_problem"].startswith(f"gunicorn {gunicorn.__version__} ")
        assert "logger_class" not in CONF


def test_to_stdout_it_writes_the_same_lines(capfd):
    logger = AccessLogger(configured(accesslog="-"))

    for response, req, environ in (request("/orders/"), request("/healthz"), request("/missing", status_code=404)):
        logger.access(response, req, environ, timedelta(milliseconds=3))

    assert capfd.readouterr().out.splitlines() == [
        '10.1.2.3 "GET /orders/ HTTP/1.1" 200 512B 3ms "Mozilla/5.0 (X11)"',
        '10.1.2.3 "GET /missing HTTP/1.1" 404 512B 3ms "Mozilla/5.0 (X11)"',
    ]


def test_nothing_is_written_with_the_access_log_off(access_log):
    assert access_log(request("/orders/"), accesslog=None) == []
