"""The project as production runs it: its start command (gunicorn with
gunicorn.conf.py), DEBUG off, static files collected, real HTTP on
loopback. What a visitor, a platform's router and a load balancer see:
security headers, the HTTPS redirect (health checks exempt), secure
cookies, static files, readiness, which proxies are believed, the access
log and the client it names, and every worker answering request after request."""

import http.client
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from {{ cookiecutter.project_slug }}.plumbing.server import gunicorn_internals

PROJECT_DIR = Path(__file__).resolve().parent.parent
VIA_PROXY = {"X-Forwarded-Proto": "https"}
# HSTS of a first deploy: an hour, this host only, no preloading.
FIRST_HSTS = "max-age=3600"
# Any loopback address but 127.0.0.1 is this machine, yet not a trusted proxy.
UNTRUSTED_PEER = "127.0.0.2"
# Kept out of the server's environment: they would change what is tested.
SERVER_VARIABLES = (
    "DATABASE_URL",
    "REDIS_URL",
    "PORT",
    "WEB_CONCURRENCY",
    "GUNICORN_THREADS",
    "GUNICORN_CMD_ARGS",
    "FORWARDED_ALLOW_IPS",
    "DYNO",
    "RENDER",
    "DATABASE_MAX_CONNECTIONS",
)

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="binds 127.0.0.2, which only Linux routes to loopback"
)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def production_environment(tmp_path, **overrides):
    env = {
        key: value for key, value in os.environ.items() if key not in SERVER_VARIABLES and not key.startswith("DJANGO_")
    }
    env.update(
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        WEB_CONCURRENCY="2",
        # Read by people here (test_request_logs.py reads production's JSON).
        DJANGO_LOG_FORMAT="text",
    )
    env.update(overrides)
    return env


class Server:
    """The start command of the Procfile, Dockerfile and render.yaml, on a free loopback port."""

    def __init__(self, env, log_path):
        self.port = free_port()
        self.log_path = log_path
        with open(log_path, "w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "{{ cookiecutter.project_slug }}.plumbing.server", "--bind", f"127.0.0.1:{self.port}"],
                cwd=PROJECT_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, f"the server exited:\n{self.log()}"
            assert time.monotonic() < deadline, f"no answer on /healthz within 60 s:\n{self.log()}"
            try:
                if get(self.port, "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.05)

    def log(self):
        return self.log_path.read_text(errors="replace")

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=40)


def get(port, path, headers=None, source=None, method="GET"):
    """(status, headers with lower-case names and every Set-Cookie, body) of one request."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=10, source_address=(source, 0) if source else None
    )
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        headers = {}
        for name, value in response.getheaders():
            headers.setdefault(name.lower(), []).append(value)
        return (
            response.status,
            {name: values if name == "set-cookie" else values[-1] for name, values in headers.items()},
            response.read(),
        )
    finally:
        connection.close()


def manage(env, *args):
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("live")
    env = production_environment(tmp_path)
    manage(env, "migrate", "--noinput")
    manage(env, "collectstatic", "--noinput")
    server = Server(env, tmp_path / "gunicorn.log")
    yield server
    assert server.stop() == 0


def message(line):
    """A text log line less its time, level, logger and request id."""
    return line.split(" ", 5)[5]


def hashed_static_path(name):
    manifest = json.loads((PROJECT_DIR / "staticfiles" / "staticfiles.json").read_text())
    return "/static/" + manifest["paths"][name]


# --- HTTPS and security headers ------------------------------------------------------


def test_plain_http_is_redirected_to_https(server):
    status, headers, _ = get(server.port, "/?page=2")

    assert status == 301
    assert headers["location"] == f"https://127.0.0.1:{server.port}/?page=2"


def test_health_checks_answer_plain_http_for_any_host(server):
    for path in ("/healthz", "/readyz"):
        assert get(server.port, path, {"Host": "10.0.0.7:8000"})[:3:2] == (200, b"ok")


def test_pages_over_https_carry_the_security_headers(server):
    status, headers, _ = get(server.port, "/", VIA_PROXY)

    assert status == 200
    assert headers["strict-transport-security"] == FIRST_HSTS
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in headers["content-security-policy"]


def test_cookies_are_secure_and_http_only(server):
    _, headers, _ = get(server.port, "/admin/login/", VIA_PROXY)

    (csrf_cookie,) = [cookie for cookie in headers["set-cookie"] if cookie.startswith("csrftoken=")]
    assert "; Secure" in csrf_cookie and "; HttpOnly" in csrf_cookie


# --- Proxies ---------------------------------------------------------------------------


def test_a_client_that_is_no_trusted_proxy_cannot_claim_https(server):
    status, headers, _ = get(server.port, "/", VIA_PROXY, source=UNTRUSTED_PEER)

    assert status == 301
    assert headers["location"].startswith("https://")
    assert "strict-transport-security" not in headers


def test_a_claim_of_https_from_a_peer_that_is_no_trusted_proxy_is_logged_once_naming_it(tmp_path):
    """Behind a proxy left out of FORWARDED_ALLOW_IPS every page redirects to itself: the log says why.
    One worker, so that its one warning is the server's."""
    env = production_environment(tmp_path)
    env["WEB_CONCURRENCY"] = "1"
    server = Server(env, tmp_path / "gunicorn.log")
    try:
        get(server.port, "/healthz", VIA_PROXY)
        from_trusted_proxy = server.log()
        get(server.port, "/healthz", VIA_PROXY, source=UNTRUSTED_PEER)
        get(server.port, "/healthz", VIA_PROXY, source=UNTRUSTED_PEER)
    finally:
        exit_code = server.stop()

    assert "X-Forwarded-Proto" not in from_trusted_proxy
    [warning] = [line for line in server.log().splitlines() if "X-Forwarded-Proto" in line]
    assert " WARNING " in warning
    assert f"A request from {UNTRUSTED_PEER} says X-Forwarded-Proto: https" in warning
    assert f"set FORWARDED_ALLOW_IPS={UNTRUSTED_PEER} (or its network)" in warning
    assert exit_code == 0


# --- Static files ------------------------------------------------------------------------


def test_a_hashed_static_file_is_served_compressed_and_cached_for_ten_years(server):
    path = hashed_static_path("css/site.css")

    for encoding in ("br", "gzip"):
        status, headers, body = get(server.port, path, {**VIA_PROXY, "Accept-Encoding": encoding})
        assert (status, headers["content-encoding"]) == (200, encoding)
        assert headers["cache-control"] == "max-age=315360000, public, immutable"
        assert headers["strict-transport-security"] == FIRST_HSTS
        assert int(headers["content-length"]) == len(body) > 0


def test_static_files_too_are_served_over_https_only(server):
    path = hashed_static_path("css/site.css")

    status, headers, _ = get(server.port, path)
    assert status == 301 and headers["location"] == f"https://127.0.0.1:{server.port}{path}"
    assert get(server.port, path, VIA_PROXY, source=UNTRUSTED_PEER)[0] == 301


def test_a_missing_static_file_is_a_404(server):
    assert get(server.port, "/static/no-such-file.css", VIA_PROXY)[0] == 404


# --- Readiness, the access log, the workers -----------------------------------------


def test_readiness_sees_the_database(server):
    assert get(server.port, "/readyz")[:3:2] == (200, b"ok")


def test_the_access_log_has_a_line_per_request_less_passed_health_checks_and_served_static_files(server):
    stylesheet = hashed_static_path("css/site.css")
    _, _, page = get(server.port, "/?from=access-log", {**VIA_PROXY, "User-Agent": "access-log-test"})
    get(server.port, "/healthz")
    get(server.port, stylesheet, VIA_PROXY)
    get(server.port, "/static/missing.css", VIA_PROXY)
    get(server.port, "/?from=access-log-last", VIA_PROXY)

    # gunicorn writes a request's line once its response is sent, so a line
    # may come after the next request's, from another worker: wait for each.
    deadline = time.monotonic() + 10
    marks = ('"GET /?from=access-log-last ', '"GET /static/missing.css ')
    while not all(mark in server.log() for mark in marks) and time.monotonic() < deadline:
        time.sleep(0.05)
    requests = [message(line) for line in server.log().splitlines() if '"GET ' in line]

    assert [
        line
        for line in requests
        if re.fullmatch(
            rf'127\.0\.0\.1 "GET /\?from=access-log HTTP/1\.1" 200 {len(page)}B \d+ms "access-log-test"', line
        )
    ]
    assert [line.split('"')[2].split()[0] for line in requests if "/static/missing.css" in line] == ["404"]
    # (Other tests' redirects of plain-HTTP requests to HTTPS are logged: they were not served.)
    routine = [line for line in requests if ("/healthz" in line or stylesheet in line) and '" 200 ' in line]
    if gunicorn_internals.unsupported() is None:
        assert routine == []
    else:  # an untested gunicorn release (a dependency update) logs every request, as gunicorn does
        assert len(routine) >= 2


def logged_lines(server, marker, count):
    """The access log's lines for requests whose path holds `marker`, once `count` of them are in
    (gunicorn writes a line once its response is sent, so one may follow the next request's)."""
    deadline = time.monotonic() + 10
    while len(lines := [line for line in server.log().splitlines() if marker in line]) < count:
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return lines


def test_the_access_log_names_the_client_the_trusted_proxy_forwards_for_and_an_untrusted_peer_as_itself(server):
    get(server.port, "/?from=forwarded", {**VIA_PROXY, "X-Forwarded-For": "198.51.100.1, 203.0.113.7"})
    get(server.port, "/?from=forwarded-spoofed", {**VIA_PROXY, "X-Forwarded-For": "203.0.113.9"}, source=UNTRUSTED_PEER)
    get(server.port, "/?from=forwarded-last", VIA_PROXY)

    # Lines may come in another order than the requests: each is read by its request's path.
    requests = [message(line).split() for line in logged_lines(server, "from=forwarded", 3)]
    clients = {request[2]: request[0] for request in requests}
    via_proxy = "203.0.113.7" if gunicorn_internals.unsupported() is None else "127.0.0.1"
    # (an untested gunicorn release, a dependency update, logs the address that connected, as gunicorn does)
    assert clients == {
        "/?from=forwarded": via_proxy,
        "/?from=forwarded-spoofed": UNTRUSTED_PEER,
        "/?from=forwarded-last": "127.0.0.1",
    }


def test_every_worker_answers_request_after_request(tmp_path):
    """Not just its first: a worker that served one request and then nothing would fail here.
    Four clients at once, ten requests each, to two workers of one thread: each takes its turn."""
    env = production_environment(
        tmp_path, GUNICORN_THREADS="1", GUNICORN_CMD_ARGS="--access-logformat '%(p)s %(r)s %(s)s'"
    )
    manage(env, "migrate", "--noinput")
    manage(env, "collectstatic", "--noinput")
    server = Server(env, tmp_path / "gunicorn.log")
    deadline = time.monotonic() + 30
    while server.log().count("Booting worker") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # both workers waiting for connections
    statuses = []

    def client():
        for _ in range(10):
            statuses.append(get(server.port, "/", VIA_PROXY)[0])

    try:
        clients = [threading.Thread(target=client) for _ in range(4)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join()
    finally:
        exit_code = server.stop()
    workers = set(re.findall(r"Booting worker with pid: (\d+)", server.log()))
    served_by = set(re.findall(r" <(\d+)> GET / HTTP/1\.1 200$", server.log(), re.MULTILINE))

    assert statuses == [200] * 40
    assert len(workers) == 2 and served_by == workers
    assert exit_code == 0
