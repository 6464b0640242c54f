"""Errors to Sentry (plumbing/sentry.py), under the start command with production settings: the
server reports to a stand-in for Sentry on this machine, which keeps every envelope it is sent."""

import gzip
import http.server
import json
import subprocess
import sys
import threading
import time

import brotli
import pytest
import sentry_sdk
from sentry_sdk.integrations.django import DjangoIntegration
from test_live_server import (
    PROJECT_DIR,
    VIA_PROXY,
    Server,
    get,
    hashed_static_path,
    manage,
    production_environment,
)

from {{ cookiecutter.project_slug }}.plumbing import request_id, sentry

REQUEST_ID = "sentry-test-request-0123456789"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
DECOMPRESS = {"gzip": gzip.decompress, "br": brotli.decompress, "": bytes}


class SentryStandIn(http.server.ThreadingHTTPServer):
    """Takes envelopes as Sentry's ingest does (POST /api/<project>/envelope/) and keeps their items."""

    def __init__(self):
        self.items = []  # (item type, payload, raw body)
        super().__init__(("127.0.0.1", 0), EnvelopeHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def dsn(self):
        return f"http://public-key@127.0.0.1:{self.server_address[1]}/1"

    def wait_for(self, predicate, timeout=15):
        deadline = time.monotonic() + timeout
        while not (found := [payload for kind, payload, _ in self.items if predicate(kind, payload)]):
            if time.monotonic() > deadline:
                return []
            time.sleep(0.05)
        return found


class EnvelopeHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        compressed = self.rfile.read(int(self.headers["Content-Length"]))
        body = DECOMPRESS[self.headers.get("Content-Encoding", "")](compressed)
        lines = body.split(b"\n")[1:]  # after the envelope's own header, item header and payload in turn
        for header, payload in zip(lines[::2], lines[1::2], strict=False):
            self.server.items.append((json.loads(header)["type"], json.loads(payload), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def sentry_server():
    stand_in = SentryStandIn()
    yield stand_in
    stand_in.shutdown()


@pytest.fixture(scope="module")
def server(tmp_path_factory, sentry_server):
    tmp_path = tmp_path_factory.mktemp("sentry")
    env = production_environment(
        tmp_path,
        DJANGO_SETTINGS_MODULE="tests.live_settings",
        SENTRY_DSN=sentry_server.dsn,
        SENTRY_TRACES_SAMPLE_RATE="1",
        RENDER_GIT_COMMIT=COMMIT,
        # No git checkout to take the release from: as on a platform, the variable names it.
        GIT_DIR=str(tmp_path / "no-git"),
    )
    manage(env, "collectstatic", "--noinput")
    server = Server(env, tmp_path / "gunicorn.log")
    yield server
    assert server.stop() == 0


def test_a_view_that_raises_is_reported_with_its_request_id_and_release_and_no_personal_data(server, sentry_server):
    headers = {
        **VIA_PROXY,
        "X-Request-ID": REQUEST_ID,
        "Cookie": "sessionid=secret-session-cookie",
        "Authorization": "Bearer secret-token",
        "X-Forwarded-For": "198.51.100.23",
    }
    assert get(server.port, "/test/fail?mark=sentry", headers)[0] == 500

    [event] = sentry_server.wait_for(
        lambda kind, payload: kind == "event" and "sentry" in str(payload.get("exception"))
    )
    [(_, _, raw)] = [item for item in sentry_server.items if item[1] is event]
    assert event["tags"]["request_id"] == REQUEST_ID
    assert event["release"] == COMMIT
    assert event["environment"] == "production"
    assert event["exception"]["values"][-1]["value"] == "failed on purpose sentry"
    assert event["request"]["url"].endswith("/test/fail")
    for secret in (b"secret-session-cookie", b"secret-token", b"198.51.100.23"):
        assert secret not in raw
    assert "cookies" not in event["request"] and "user" not in event


def test_health_checks_and_static_files_are_never_traced_and_pages_are(server, sentry_server):
    get(server.port, "/healthz")
    get(server.port, "/readyz")
    get(server.port, hashed_static_path("css/site.css"), VIA_PROXY)
    get(server.port, "/test/log?mark=traced", {**VIA_PROXY, "X-Request-ID": "traced-request-0123456789"})

    [traced] = sentry_server.wait_for(lambda kind, payload: kind == "transaction" and "/test/log" in str(payload))
    assert traced["tags"]["request_id"] == "traced-request-0123456789"
    urls = [
        payload.get("request", {}).get("url", "") for kind, payload, _ in sentry_server.items if kind == "transaction"
    ]
    assert [url for url in urls if "/healthz" in url or "/readyz" in url or "/static/" in url] == []


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "SENTRY_DSN",
            "https://sentry.example.com/1",
            "SENTRY_DSN is not a Sentry DSN (Missing public key); expected e.g. https://key@o0.ingest.sentry.io/0.",
        ),
        (
            "SENTRY_TRACES_SAMPLE_RATE",
            "10%",
            "SENTRY_TRACES_SAMPLE_RATE must be a number from 0 to 1 (the share of requests traced), got '10%'.",
        ),
    ],
)
@pytest.mark.parametrize(
    "command", [["-m", "{{ cookiecutter.project_slug }}.plumbing.server"], ["manage.py", "check"]], ids=["server", "manage.py"]
)
def test_a_malformed_sentry_setting_stops_start_up_with_one_line_naming_it(tmp_path, variable, value, message, command):
    env = production_environment(tmp_path, **{"SENTRY_DSN": "https://key@o0.ingest.sentry.io/0", variable: value})
    result = subprocess.run(
        [sys.executable, *command], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode != 0
    assert (result.stdout + result.stderr).strip().splitlines() == [message]


@pytest.mark.parametrize("value", ["0", "0.25", "1", ""])
def test_the_traces_sample_rate_is_a_share_from_0_to_1(monkeypatch, value):
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", value)

    assert sentry.traces_sample_rate() == float(value or 0)


@pytest.mark.parametrize("value", ["-0.1", "1.01", "nan", "half"])
def test_a_traces_sample_rate_outside_0_to_1_is_refused(monkeypatch, value):
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", value)

    with pytest.raises(sentry.ImproperlyConfigured, match="SENTRY_TRACES_SAMPLE_RATE must be a number from 0 to 1"):
        sentry.traces_sample_rate()


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"RENDER_GIT_COMMIT": "render-commit"}, "render-commit"),
        ({"HEROKU_BUILD_COMMIT": "heroku-commit", "RENDER_GIT_COMMIT": "render-commit"}, "heroku-commit"),
        ({"SENTRY_RELEASE": "v1.2.3", "RENDER_GIT_COMMIT": "render-commit"}, "v1.2.3"),
        ({}, None),
    ],
)
def test_the_release_is_the_platforms_commit(monkeypatch, tmp_path, variables, expected):
    for name in ("SENTRY_RELEASE", "HEROKU_BUILD_COMMIT", "HEROKU_SLUG_COMMIT", "SOURCE_VERSION", "RENDER_GIT_COMMIT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "no-git"))
    for name, value in variables.items():
        monkeypatch.setenv(name, value)

    assert sentry.release() == expected


def test_without_a_dsn_sentry_is_not_set_up(monkeypatch):
    monkeypatch.setenv("SENTRY_DSN", " ")
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", "not even read")

    assert sentry.start_sentry("static/") is None


@pytest.fixture
def sentry_init(monkeypatch):
    """The arguments start_sentry() gives sentry_sdk.init(), which is not called for real in this process."""
    calls = []
    monkeypatch.setattr(sentry_sdk, "init", lambda **options: calls.append(options))
    for name in ("SENTRY_TRACES_SAMPLE_RATE", "SENTRY_RELEASE", "HEROKU_BUILD_COMMIT", "SOURCE_VERSION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_DIR", "/nonexistent")
    monkeypatch.setenv("RENDER_GIT_COMMIT", COMMIT)
    monkeypatch.setenv("SENTRY_DSN", " https://key@o0.ingest.sentry.io/0 ")
    return calls


def test_sentry_is_set_up_with_django_no_personal_data_and_the_platforms_release(sentry_init, monkeypatch):
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", "0.5")
    sentry.start_sentry("static/")

    [options] = sentry_init
    assert options["dsn"] == "https://key@o0.ingest.sentry.io/0"
    assert [type(integration) for integration in options["integrations"]] == [DjangoIntegration]
    assert options["send_default_pii"] is False
    assert options["release"] == COMMIT
    assert options["before_send"] is options["before_send_transaction"] is sentry.with_request_id
    sampler = options["traces_sampler"]
    assert [sampler({"wsgi_environ": {"PATH_INFO": path}}) for path in ("/orders/", "/healthz", "/static/a.css")] == [
        0.5,
        0,
        0,
    ]


@pytest.mark.parametrize(
    ("static_url", "static_file", "not_static"),
    [("static/", "/static/a.css", "/static-page"), ("/assets/", "/assets/a.css", "/assets-page")],
)
def test_static_files_are_those_under_static_url_however_it_is_written(
    sentry_init, monkeypatch, static_url, static_file, not_static
):
    monkeypatch.setenv("SENTRY_TRACES_SAMPLE_RATE", "1")
    sentry.start_sentry(static_url)

    sampler = sentry_init[0]["traces_sampler"]
    assert [sampler({"wsgi_environ": {"PATH_INFO": path}}) for path in (static_file, not_static)] == [0, 1]


def test_traces_are_off_unless_a_rate_is_set(sentry_init):
    sentry.start_sentry("static/")

    assert sentry_init[0]["traces_sampler"]({"wsgi_environ": {"PATH_INFO": "/orders/"}}) == 0


def test_a_malformed_dsn_is_refused_without_echoing_it(sentry_init, monkeypatch):
    monkeypatch.setenv("SENTRY_DSN", "https://sentry.example.com/secret-project")

    with pytest.raises(sentry.ImproperlyConfigured) as error:
        sentry.start_sentry("static/")
    assert str(error.value).startswith("SENTRY_DSN is not a Sentry DSN (")
    assert "secret-project" not in str(error.value) and sentry_init == []


@pytest.mark.parametrize(
    ("path", "share"),
    [("/readyz", 0), ("/healthz", 0), ("/assets/site.css", 0), ("/assets", 0.3), ("/healthz/x", 0.3), ("/", 0.3)],
)
def test_health_checks_and_static_files_get_no_share_of_traces(path, share):
    assert sentry.traced_share({"wsgi_environ": {"PATH_INFO": path}}, rate=0.3, static_path="/assets/") == share
    assert sentry.traced_share({}, rate=0.3, static_path="/assets/") == 0.3


def test_an_event_is_tagged_with_the_request_being_served_if_any():
    token = request_id.current.set("tagged-request-0123456789")
    try:
        assert sentry.with_request_id({"tags": {"a": "b"}}, {}) == {
            "tags": {"a": "b", "request_id": "tagged-request-0123456789"}
        }
        assert sentry.with_request_id({}, {}) == {"tags": {"request_id": "tagged-request-0123456789"}}
    finally:
        request_id.current.reset(token)
    assert sentry.with_request_id({"level": "error"}, {}) == {"level": "error"}
