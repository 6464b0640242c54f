"""Start a server on a free loopback port, wait until it answers, stop it by PID."""

import http.client
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
STARTUP_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 10
POLL_INTERVAL_SECONDS = 0.005

# Production sets SECURE_SSL_REDIRECT: say the request came over HTTPS, as a
# TLS-terminating proxy would (gunicorn trusts the header from 127.0.0.1).
PROXY_HEADERS = {"X-Forwarded-Proto": "https"}


@dataclass
class ServerSpec:
    name: str
    argv: list[str]
    env: dict
    cwd: Path
    port: int  # the argv (or the config it names) binds HOST:port
    ready_path: str = "/healthz"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def http_get(port: int, path: str, headers: dict | None = None, timeout: float = 5) -> tuple[int, dict]:
    """Status and headers of one GET (redirects are not followed: a 301 is an answer, not a success)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("GET", path, headers={**PROXY_HEADERS, **(headers or {})})
        response = connection.getresponse()
        response.read()
        return response.status, dict(response.getheaders())
    finally:
        connection.close()


def answers_ok(port: int, path: str) -> bool:
    try:
        return http_get(port, path, timeout=1)[0] == 200
    except OSError:
        return False


class RunningServer:
    """A server process for the duration of a `with` block; output goes to a log file."""

    def __init__(self, spec: ServerSpec, log_dir: Path):
        self.spec = spec
        self.port = spec.port
        # The port keeps names apart; the name is cut to stay within a file name's 255 bytes.
        self.log_path = log_dir / f"{spec.name.replace(' ', '_').replace('/', '_')[:120]}-{self.port}.log"
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0

    @property
    def pid(self) -> int:
        return self.process.pid

    def start(self) -> "RunningServer":
        env = {**self.spec.env, "PORT": str(self.port)}
        with open(self.log_path, "ab") as log:
            self.started_at = time.perf_counter()
            # A session of its own, so that stop() can end every process the server started.
            self.process = subprocess.Popen(
                self.spec.argv, cwd=self.spec.cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    def exited(self) -> bool:
        return self.process.poll() is not None

    def wait_until_ready(self, upstream: "RunningServer | None" = None) -> float:
        """Seconds from spawning the process to the first 200 on the ready path (a proxy also fails if its upstream exits)."""
        deadline = self.started_at + STARTUP_TIMEOUT_SECONDS
        while time.perf_counter() < deadline:
            for server in filter(None, (self, upstream)):
                if server.exited():
                    raise RuntimeError(f"{server.spec.name} exited with {server.process.returncode}; see {server.log_path}")
            if answers_ok(self.port, self.spec.ready_path):
                return time.perf_counter() - self.started_at
            time.sleep(POLL_INTERVAL_SECONDS)
        raise RuntimeError(f"{self.spec.name} did not answer {self.spec.ready_path} within {STARTUP_TIMEOUT_SECONDS}s; see {self.log_path}")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            # SIGINT is the quick shutdown for gunicorn, granian and nginx alike:
            # nothing is in flight once the load generator has stopped.
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        # Workers normally exit with their master, but one forked just as the
        # signal came can miss it and go on serving the port (seen with
        # gunicorn): end whatever is left of the server's session.
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def __enter__(self) -> "RunningServer":
        self.start()
        try:
            self.wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info):
        self.stop()


class ProxiedServer:
    """A server with a reverse proxy of its own in front, started and stopped with it.

    Clients, the ready check and the 200 checks go through the proxy (`port`);
    `pid` and `log_path` are the server's, so CPU and memory are the server's own.
    """

    def __init__(self, app: RunningServer, proxy: RunningServer):
        self.app, self.proxy = app, proxy
        self.spec, self.log_path, self.port = app.spec, app.log_path, proxy.port

    @property
    def pid(self) -> int:
        return self.app.pid

    def start(self) -> "ProxiedServer":
        self.app.start()
        self.proxy.start()
        return self

    def exited(self) -> bool:
        return self.app.exited() or self.proxy.exited()

    def wait_until_ready(self) -> float:
        return self.proxy.wait_until_ready(upstream=self.app)

    def stop(self) -> None:
        self.proxy.stop()
        self.app.stop()
