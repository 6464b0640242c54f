"""Load a URL with wrk for a fixed time and read its summary."""

import re
import subprocess
from dataclasses import dataclass

from servers import HOST, PROXY_HEADERS


@dataclass
class LoadSettings:
    duration_seconds: int = 2
    connections: int = 32
    threads: int = 2
    # wrk's own default: a request unanswered this long counts as a timeout (an error).
    timeout_seconds: float = 2


@dataclass
class LoadResult:
    requests_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float  # the slowest answer: a client kept waiting shows here, not in the percentiles
    requests: int
    non_2xx: int  # wrk counts 3xx as success; every URL is checked for a 200 first (see run.py)
    socket_errors: int

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


LATENCY_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def latency_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * LATENCY_UNITS_MS[unit]


def parse_wrk(output: str) -> LoadResult:
    percentiles = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)", output, re.MULTILINE))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return LoadResult(
        requests_per_second=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        p50_ms=latency_ms(percentiles["50"]),
        p90_ms=latency_ms(percentiles["90"]),
        p99_ms=latency_ms(percentiles["99"]),
        max_ms=latency_ms(re.search(r"^\s+Latency\s+\S+\s+\S+\s+(\S+)", output, re.MULTILINE).group(1)),
        requests=int(re.search(r"(\d+) requests in", output).group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(map(int, socket_errors.groups())) if socket_errors else 0,
    )


def run_wrk(port: int, path: str, settings: LoadSettings, headers: dict | None = None) -> LoadResult:
    header_args = []
    for name, value in {**PROXY_HEADERS, **(headers or {})}.items():
        header_args += ["-H", f"{name}: {value}"]
    command = [
        "wrk", f"-t{settings.threads}", f"-c{settings.connections}", f"-d{settings.duration_seconds}s",
        "--timeout", f"{settings.timeout_seconds:g}s", "--latency", *header_args, f"http://{HOST}:{port}{path}",
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True, timeout=settings.duration_seconds + settings.timeout_seconds + 30).stdout
    return parse_wrk(output)
