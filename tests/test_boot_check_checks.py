"""The boot check's own checks fail when what they check is wrong.

The post-generation hook, rendered as cookiecutter renders it, asked by a
stand-in server on loopback that answers as a broken project would: each
check must stop generation with a message saying what it expected."""

import http.server
import json
import socket
import subprocess
import sys
import threading

import pytest

STYLESHEET = "/static/css/site.0123456789ab.css"
GOOD = {
    "/healthz": (200, {}),
    "/": (200, {}),
    STYLESHEET: (200, {"Content-Encoding": "gzip", "Cache-Control": "max-age=315360000, public, immutable"}),
}


@pytest.fixture
def hook(post_gen_hook, tmp_path):
    """The hook, in a project directory holding a collectstatic manifest."""
    manifest = tmp_path / "staticfiles" / "staticfiles.json"
    manifest.parent.mkdir()
    manifest.write_text(json.dumps({"paths": {"css/site.css": STYLESHEET.removeprefix("/static/")}}))
    return post_gen_hook


@pytest.fixture
def serve():
    """A server answering each path with the (status, headers[, body]) given, as the project
    would: a request not marked as forwarded over HTTPS is redirected there, and a
    Content-Encoding is sent only to a client that accepts it. Yields a function that starts it."""
    servers = []

    def start(answers, port=0):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                status, headers, *body = answers.get(self.path, (404, {}))
                if self.headers.get("X-Forwarded-Proto") != "https":
                    status, headers = 301, {"Location": f"https://127.0.0.1{self.path}"}
                if headers.get("Content-Encoding") not in (None, *self.headers.get("Accept-Encoding", "").split(", ")):
                    headers = {name: value for name, value in headers.items() if name != "Content-Encoding"}
                body = body[0] if body else b"answer"
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        # Polled often, so that shutting it down at the end of a test is quick.
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        servers.append(server)
        return server.server_address[1]

    yield start
    for server in servers:
        server.shutdown()


@pytest.fixture
def gunicorn_process():
    """A process standing in for gunicorn's master: running, until the test is over."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    yield process
    process.kill()
    process.wait()


def test_a_project_that_answers_as_it_should_passes_and_says_what_it_got(hook, serve, capsys):
    hook.check_pages(serve(GOOD))

    assert capsys.readouterr().out.splitlines() == [
        "  GET / -> 200",
        f"  GET {STYLESHEET} -> 200, gzip, Cache-Control: max-age=315360000, public, immutable",
    ]


def test_a_health_check_answering_200_passes(hook, serve, gunicorn_process):
    hook.wait_until_healthy(gunicorn_process, serve(GOOD))


def test_a_server_that_starts_listening_late_passes_once_it_answers(hook, serve, gunicorn_process):
    port = hook.free_port()
    late = threading.Timer(0.3, serve, (GOOD, port))
    late.start()
    try:
        hook.wait_until_healthy(gunicorn_process, port)
    finally:
        late.join()


def test_a_server_that_exits_before_answering_fails_the_check_with_its_exit_code(hook):
    exited = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    exited.wait()

    with pytest.raises(hook.BootCheckFailed, match="gunicorn exited with code 3 before answering."):
        hook.wait_until_healthy(exited, hook.free_port())


def test_a_server_that_never_answers_fails_the_check_when_the_startup_time_is_up(hook, monkeypatch, gunicorn_process):
    monkeypatch.setattr(hook, "STARTUP_TIMEOUT_SECONDS", 0.3)

    with pytest.raises(hook.BootCheckFailed, match=r"gunicorn did not answer /healthz within 0.3 s."):
        hook.wait_until_healthy(gunicorn_process, hook.free_port())


def failure_of(hook, check, *args):
    """Run a check in a thread and return its BootCheckFailed message (None if it passed);
    fail the test if it still waits after 5 s, where it would otherwise wait for ever."""
    outcome = []

    def run():
        try:
            check(*args)
        except hook.BootCheckFailed as failure:
            outcome.append(str(failure))
        except Exception as error:
            outcome.append(error)
        else:
            outcome.append(None)

    checking = threading.Thread(target=run, daemon=True)
    checking.start()
    checking.join(5)
    assert not checking.is_alive(), "the check still waits on a server that never answers"
    [result] = outcome
    if isinstance(result, Exception):
        raise result
    return result


@pytest.fixture
def silent_port():
    """A port that accepts connections (the kernel queues them) and never answers a request."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        yield silent.getsockname()[1]


def test_a_page_that_never_answers_fails_the_check_when_the_request_time_is_up(hook, monkeypatch, silent_port):
    monkeypatch.setattr(hook, "REQUEST_TIMEOUT_SECONDS", 0.3)

    assert failure_of(hook, hook.check_pages, silent_port) == "/ did not answer within 0.3 s."


def test_a_health_check_that_never_answers_is_retried_until_the_startup_time_is_up(
        hook, monkeypatch, silent_port, gunicorn_process):
    monkeypatch.setattr(hook, "REQUEST_TIMEOUT_SECONDS", 0.1)
    monkeypatch.setattr(hook, "STARTUP_TIMEOUT_SECONDS", 0.5)

    message = failure_of(hook, hook.wait_until_healthy, gunicorn_process, silent_port)

    assert message == "gunicorn did not answer /healthz within 0.5 s."


def test_a_landing_page_error_is_shown_as_its_first_500_bytes_even_if_not_utf8(hook, serve):
    port = serve({**GOOD, "/": (500, {}, b"\xff" + b"a" * 600)})

    with pytest.raises(hook.BootCheckFailed) as failure:
        hook.check_pages(port)

    assert str(failure.value) == "the landing page answered 500, not 200:\n\ufffd" + "a" * 499


@pytest.mark.parametrize(
    ("path", "answer", "message"),
    [
        ("/", (500, {}), "the landing page answered 500, not 200"),
        (STYLESHEET, (404, {}), f"{STYLESHEET} answered 404"),
        (STYLESHEET, (200, {"Cache-Control": "max-age=315360000, public, immutable"}),
         "Content-Encoding None, Cache-Control 'max-age=315360000, public, immutable'; expected 200, gzip and an immutable cache header from WhiteNoise."),
        (STYLESHEET, (200, {"Content-Encoding": "gzip", "Cache-Control": "max-age=60, public"}), "Cache-Control 'max-age=60, public'"),
        (STYLESHEET, (200, {"Content-Encoding": "gzip"}), "Content-Encoding 'gzip', Cache-Control ''; expected"),
    ],
    ids=["landing-page-fails", "stylesheet-missing", "stylesheet-not-compressed", "stylesheet-not-immutable", "stylesheet-not-cached"],
)
def test_a_broken_page_or_stylesheet_fails_the_check_saying_what_was_expected(hook, serve, path, answer, message):
    port = serve({**GOOD, path: answer})

    with pytest.raises(hook.BootCheckFailed) as failure:
        hook.check_pages(port)

    assert message in str(failure.value)


def test_a_health_check_that_does_not_answer_200_fails_the_check(hook, serve, gunicorn_process):
    port = serve({**GOOD, "/healthz": (503, {})})

    with pytest.raises(hook.BootCheckFailed, match="/healthz answered 503, not 200"):
        hook.wait_until_healthy(gunicorn_process, port)


@pytest.mark.parametrize(
    ("on_sigterm", "message"),
    [("sys.exit(3)", "gunicorn exited with code 3 after SIGTERM, not 0."), ("None", "did not stop within 0.5 s of SIGTERM")],
    ids=["exits-with-an-error", "ignores-it"],
)
def test_a_server_that_does_not_stop_cleanly_on_sigterm_fails_the_check(hook, monkeypatch, on_sigterm, message):
    monkeypatch.setattr(hook, "SHUTDOWN_TIMEOUT_SECONDS", 0.5)
    code = f"import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: {on_sigterm}); print('ready', flush=True); time.sleep(30)"
    server = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    server.stdout.readline()  # its SIGTERM handler is in place

    with pytest.raises(hook.BootCheckFailed, match=message):
        hook.stop(server)


def test_a_server_that_exits_0_on_sigterm_passes(hook):
    code = "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); print('ready', flush=True); time.sleep(30)"
    server = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    server.stdout.readline()

    hook.stop(server)

    assert server.returncode == 0
