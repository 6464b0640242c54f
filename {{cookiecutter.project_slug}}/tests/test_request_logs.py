"""One request id from the router to every line the request wrote, in JSON, under the start command
(gunicorn with gunicorn.conf.py) with production settings and their default log format.

The server runs the project with two views only tests serve (live_urls.py): one logs a line, the
other raises. Every line the server writes must parse as JSON; the lines of one request are found
by its id, and must be all of its lines and no other request's."""

import json
import subprocess
import sys
import threading
import uuid

import pytest
from test_live_server import (
    PROJECT_DIR,
    UNTRUSTED_PEER,
    VIA_PROXY,
    Server,
    get,
    logged_lines,
    manage,
    production_environment,
)

from {{ cookiecutter.project_slug }}.plumbing.server import gunicorn_internals

VALID_ID = "router-given-id-0123456789"
SLOW_REQUEST_MS = 300
START_COMMAND = ["-m", "{{ cookiecutter.project_slug }}.plumbing.server"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("request-logs")
    env = production_environment(
        tmp_path, DJANGO_SETTINGS_MODULE="tests.live_settings", DJANGO_SLOW_REQUEST_MS=str(SLOW_REQUEST_MS)
    )
    del env["DJANGO_LOG_FORMAT"]  # production's default
    manage(env, "collectstatic", "--noinput")
    server = Server(env, tmp_path / "gunicorn.log")
    yield server
    assert server.stop() == 0


def records(server):
    """Every line the server wrote so far, each parsed as JSON (a line that is not JSON fails the test)."""
    return [json.loads(line) for line in server.log().splitlines()]


def lines_of(server, request_id, count):
    """The records that carry `request_id`, once `count` of them are in (the access line may come late)."""
    logged_lines(server, request_id, count)
    return [record for record in records(server) if record["request_id"] == request_id]


def access_line(lines):
    [line] = [line for line in lines if line["logger"] == "gunicorn.access"]
    return line


def test_a_valid_x_request_id_is_answered_and_on_every_line_of_its_request(server):
    status, headers, _ = get(server.port, "/test/log?mark=valid", {**VIA_PROXY, "X-Request-ID": VALID_ID})

    lines = lines_of(server, VALID_ID, 2)
    assert (status, headers["x-request-id"]) == (200, VALID_ID)
    assert [(line["logger"], line["level"]) for line in lines] == [
        ("tests.live_urls", "INFO"),
        ("gunicorn.access", "INFO"),
    ]
    assert lines[0]["message"] == "view line valid"
    assert {"time", "level", "logger", "request_id", "message"} <= lines[0].keys()


def test_the_access_line_carries_its_fields_with_the_client_the_trusted_proxy_names(server):
    headers = {**VIA_PROXY, "X-Request-ID": "access-line-fields-0123", "User-Agent": "fields-test/1.0"}
    _, _, body = get(server.port, "/test/log?mark=fields", {**headers, "X-Forwarded-For": "203.0.113.7"})

    line = access_line(lines_of(server, "access-line-fields-0123", 2))
    if gunicorn_internals.unsupported() is not None:  # an untested gunicorn release logs its own line
        assert "client" not in line
        return
    assert {key: line[key] for key in ("client", "method", "path", "status", "bytes", "user_agent")} == {
        "client": "203.0.113.7",
        "method": "GET",
        "path": "/test/log?mark=fields",
        "status": 200,
        "bytes": len(body),
        "user_agent": "fields-test/1.0",
    }
    assert line["duration_ms"] >= 0 and line["time"]


def test_a_view_that_raises_logs_its_traceback_in_one_json_line_with_the_request_id(server):
    request_id = "raising-view-0123456789"
    status, headers, _ = get(server.port, "/test/fail?mark=raise", {**VIA_PROXY, "X-Request-ID": request_id})

    lines = lines_of(server, request_id, 3)
    assert (status, headers["x-request-id"]) == (500, request_id)
    assert [line["logger"] for line in lines] == ["tests.live_urls", "django.request", "gunicorn.access"]
    error = lines[1]
    assert error["level"] == "ERROR" and error["message"] == "Internal Server Error: /test/fail"
    assert error["exc_info"].startswith("Traceback (most recent call last):")
    assert error["exc_info"].endswith("RuntimeError: failed on purpose raise")
    assert '"GET /test/fail?mark=raise HTTP/1.1" 500' in access_line(lines)["message"]


def test_without_an_id_the_request_gets_a_new_one(server):
    _, headers, _ = get(server.port, "/test/log?mark=generated", VIA_PROXY)

    request_id = headers["x-request-id"]
    assert uuid.UUID(request_id).version == 4
    assert [line["message"] for line in lines_of(server, request_id, 2)][0] == "view line generated"


@pytest.mark.parametrize(
    "sent",
    ["too-short-012345678", "x" * 201, "has spaces in it 0123456789", 'quote"and-more-0123456789', "é" * 30],
    ids=["19-characters", "201-characters", "spaces", "quote", "not-ascii"],
)
def test_an_id_that_is_not_20_to_200_safe_characters_is_replaced(server, sent):
    _, headers, _ = get(server.port, "/test/log?mark=invalid", {**VIA_PROXY, "X-Request-ID": sent})

    assert headers["x-request-id"] != sent
    assert uuid.UUID(headers["x-request-id"]).version == 4


def test_an_id_of_200_characters_is_taken(server):
    sent = "a" * 200
    assert get(server.port, "/test/log", {**VIA_PROXY, "X-Request-ID": sent})[1]["x-request-id"] == sent


def test_renders_rndr_id_is_taken_and_on_every_line_of_its_request(server):
    rndr_id = "rndr-0123456789abcdef0123"
    _, headers, _ = get(server.port, "/test/log?mark=render", {**VIA_PROXY, "Rndr-Id": rndr_id})

    lines = lines_of(server, rndr_id, 2)
    assert headers["x-request-id"] == rndr_id
    assert [line["logger"] for line in lines] == ["tests.live_urls", "gunicorn.access"]


def test_a_client_that_is_no_trusted_proxy_cannot_choose_its_id(server):
    sent = "chosen-by-the-client-0123"
    _, headers, _ = get(server.port, "/test/log", {"X-Request-ID": sent, "Rndr-Id": sent}, source=UNTRUSTED_PEER)

    assert uuid.UUID(headers["x-request-id"]).version == 4


@pytest.mark.parametrize("sent", [True, False], ids=["ids-sent", "ids-generated"])
def test_32_concurrent_requests_never_mix_their_ids(server, sent):
    """32 requests at once on two workers' threads, each sleeping so that they overlap: each request's
    view line and access line carry its own id, the one its response names."""
    answers = {}
    barrier = threading.Barrier(32)

    def client(number):
        mark = f"concurrent-{sent}-{number}"
        headers = (
            {**VIA_PROXY, "X-Request-ID": f"concurrent-request-{number:04d}-{uuid.uuid4().hex}"} if sent else VIA_PROXY
        )
        barrier.wait()
        status, response_headers, _ = get(server.port, f"/test/log?mark={mark}&seconds=0.2", headers)
        answers[mark] = (status, response_headers["x-request-id"], headers.get("X-Request-ID"))

    clients = [threading.Thread(target=client, args=(number,)) for number in range(32)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()

    logged_lines(server, f"concurrent-{sent}-", 64)
    view_lines = {
        line["message"].split()[-1]: line["request_id"]
        for line in records(server)
        if line["message"].startswith(f"view line concurrent-{sent}-")
    }
    access_lines = {
        line["message"].split("mark=")[1].split("&")[0]: line["request_id"]
        for line in records(server)
        if line["logger"] == "gunicorn.access" and f"mark=concurrent-{sent}-" in line["message"]
    }
    assert len(answers) == 32 and all(status == 200 for status, _, _ in answers.values())
    assert len({request_id for _, request_id, _ in answers.values()}) == 32
    if sent:
        assert all(request_id == sent_id for _, request_id, sent_id in answers.values())
    assert view_lines == {mark: request_id for mark, (_, request_id, _) in answers.items()}
    assert access_lines == view_lines


def test_a_slow_request_logs_a_warning_with_its_id(server):
    request_id = "slow-request-0123456789"
    get(server.port, f"/test/log?seconds={SLOW_REQUEST_MS * 1.5 / 1000}", {**VIA_PROXY, "X-Request-ID": request_id})
    get(server.port, "/test/log", {**VIA_PROXY, "X-Request-ID": "fast-request-0123456789"})

    [warning] = [line for line in lines_of(server, request_id, 3) if line["level"] == "WARNING"]
    assert warning["message"].startswith("Slow request: GET /test/log took ")
    assert warning["message"].endswith(f" ms (DJANGO_SLOW_REQUEST_MS={SLOW_REQUEST_MS})")
    assert [line for line in lines_of(server, "fast-request-0123456789", 2) if line["level"] == "WARNING"] == []


def test_lines_outside_any_request_carry_no_id(server):
    starting = [line for line in records(server) if line["message"].startswith("Starting gunicorn")]
    assert [line["request_id"] for line in starting] == ["-"]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DJANGO_LOG_FORMAT", "yaml", "DJANGO_LOG_FORMAT must be json or text, got 'yaml'."),
        ("DJANGO_SLOW_REQUEST_MS", "soon", "DJANGO_SLOW_REQUEST_MS must be a whole number of at least 0, got 'soon'."),
    ],
)
@pytest.mark.parametrize("command", [START_COMMAND, ["manage.py", "check"]], ids=["server", "manage.py"])
def test_a_malformed_setting_stops_start_up_with_one_line_naming_it(tmp_path, variable, value, message, command):
    env = production_environment(tmp_path, **{variable: value})
    result = subprocess.run(
        [sys.executable, *command], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode != 0
    assert (result.stdout + result.stderr).strip().splitlines() == [message]
