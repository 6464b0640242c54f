"""Concurrent load from threads, bounded in requests and in time.

Each request opens its own connection (`Connection: close`), as a router
that does not reuse connections would, so every outcome belongs to one
request: a status, or the error the client saw.
"""

import http.client
import threading
import time
from dataclasses import dataclass, field

# As the platform's TLS-terminating router sends them.
VIA_HTTPS = {"X-Forwarded-Proto": "https"}
# A client backs off this long after a failed request instead of spinning.
PAUSE_AFTER_ERROR_SECONDS = 0.01


@dataclass
class Outcome:
    path: str
    started: float  # time.monotonic()
    ended: float
    status: int | None = None
    error: str | None = None
    headers: dict = field(default_factory=dict)  # lower-case names

    def in_flight_at(self, moment):
        return self.started < moment < self.ended


def request(port, path, headers=VIA_HTTPS, timeout=30):
    """One GET on a new connection, as an Outcome; never raises."""
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Connection": "close", **headers})
        response = connection.getresponse()
        response.read()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return Outcome(path, started, time.monotonic(), status=response.status, headers=headers)
    except OSError as error:  # refused, reset, timed out, closed without a response
        return Outcome(path, started, time.monotonic(), error=type(error).__name__)
    finally:
        connection.close()


def at_once(port, paths):
    """Outcomes of one request per path, all sent at the same moment on connections of their own."""
    outcomes = [None] * len(paths)

    def send(index):
        outcomes[index] = request(port, paths[index])

    clients = [threading.Thread(target=send, args=(index,)) for index in range(len(paths))]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    return outcomes


@dataclass
class Load:
    """`threads` clients requesting `paths` in turn until stopped, for at most
    `max_seconds` and `max_requests` requests in all. `port` may be a list:
    the clients are then shared out among the servers on those ports."""

    port: int | list
    paths: tuple = ("/",)
    threads: int = 8
    max_seconds: float = 60
    max_requests: int = 20000
    outcomes: list = field(default_factory=list)

    def __enter__(self):
        self._stop = threading.Event()
        self._deadline = time.monotonic() + self.max_seconds
        self._lock = threading.Lock()
        self._clients = [threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(self.threads)]
        for client in self._clients:
            client.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def stop(self):
        self._stop.set()
        for client in self._clients:
            client.join(timeout=60)

    def _client(self, number):
        ports = self.port if isinstance(self.port, list) else [self.port]
        port = ports[number % len(ports)]
        turn = number
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            with self._lock:
                if len(self.outcomes) >= self.max_requests:
                    return
            outcome = request(port, self.paths[turn % len(self.paths)])
            turn += 1
            with self._lock:
                self.outcomes.append(outcome)
            if outcome.error:
                time.sleep(PAUSE_AFTER_ERROR_SECONDS)

    def wait_for(self, count, timeout=30):
        """Let at least `count` more requests complete."""
        target = len(self.outcomes) + count
        deadline = time.monotonic() + timeout
        while len(self.outcomes) < target and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.outcomes) >= target, f"only {len(self.outcomes)} requests completed, wanted {target}"

    def failures(self):
        return [outcome for outcome in self.outcomes if outcome.status != 200]

    def summary(self):
        seconds = max(o.ended for o in self.outcomes) - min(o.started for o in self.outcomes)
        return f"{len(self.outcomes)} requests from {self.threads} threads over {seconds:.1f} s"
