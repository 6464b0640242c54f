"""A router in front of a server under test, and wrk to load it through the router.

The router is a private nginx shaped like the platforms' routers: it keeps
its connections to the app open between requests (HTTP/1.1 upstream, a
cache of idle connections, as Heroku's Router 2.0, an ALB or ingress-nginx
do), says the request came over HTTPS and from which client, and gives up
on an answer after 30 s, as Heroku's router does.
"""

import re
import shutil
import signal
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .network import free_port, wait_for_http_200

ROUTER_GIVES_UP_AFTER_SECONDS = 30

NGINX_CONF = """\
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
worker_rlimit_nofile 8192;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream app {{
        server 127.0.0.1:{app_port};
        keepalive 320;
        keepalive_timeout 60s;
        keepalive_requests 10000;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto https;
            proxy_read_timeout {gives_up}s;
        }}
    }}
}}
"""


def missing_tools():
    """The programs the router and its load need that this machine lacks."""
    return [name for name in ("nginx", "wrk") if shutil.which(name) is None]


@contextmanager
def router_in_front_of(app_port):
    """A running router on a free loopback port that forwards to `app_port`; yields its port."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="router-") as prefix:
        conf = Path(prefix) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(prefix=prefix, app_port=app_port, port=port, gives_up=ROUTER_GIVES_UP_AFTER_SECONDS))
        process = subprocess.Popen(
            [shutil.which("nginx"), "-p", prefix, "-c", str(conf), "-e", f"{prefix}/error.log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
        try:
            wait_for_http_200(port, "/healthz", timeout=30, process=process)
            yield port
        finally:
            process.send_signal(signal.SIGQUIT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class WrkResult:
    requests: int
    requests_per_second: float
    p99_ms: float
    slowest_ms: float
    failed: int  # answers other than 2xx or 3xx, and connections that failed or timed out
    output: str


LATENCY_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def milliseconds(text):
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * LATENCY_UNITS_MS[unit]


def wrk(port, path, clients, seconds):
    """wrk's summary of `clients` connections requesting `path` for `seconds`, waiting past the router's limit for each answer."""
    command = [
        "wrk", "-t2", f"-c{clients}", f"-d{seconds}s", "--timeout", f"{ROUTER_GIVES_UP_AFTER_SECONDS + 5}s", "--latency",
        f"http://127.0.0.1:{port}{path}",
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 120).stdout
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(
        requests=int(re.search(r"(\d+) requests in", output).group(1)),
        requests_per_second=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        p99_ms=milliseconds(re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE).group(1)),
        slowest_ms=milliseconds(re.search(r"^\s+Latency\s+\S+\s+\S+\s+(\S+)", output, re.MULTILINE).group(1)),
        failed=(int(non_2xx.group(1)) if non_2xx else 0) + (sum(map(int, socket_errors.groups())) if socket_errors else 0),
        output=output,
    )
