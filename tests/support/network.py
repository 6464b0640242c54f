"""Loopback HTTP helpers: free ports and plain GET requests."""

import http.client
import socket
import time


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_get(port, path, headers=None, timeout=10):
    """(status, headers with lower-case names, body) of one GET, no redirects followed."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, {name.lower(): value for name, value in response.getheaders()}, response.read()
    finally:
        connection.close()


def wait_for_http_200(port, path="/healthz", timeout=60, process=None):
    """Poll until `path` answers 200; fail early if `process` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode} before answering {path}")
        try:
            if http_get(port, path, timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"127.0.0.1:{port}{path} did not answer 200 within {timeout} s")
