"""
Cut off a request that runs longer than gunicorn's `timeout`.

Gunicorn replaces a worker that has not said it is alive for `timeout`
seconds. A gthread worker says so from its main thread while its request
threads run, so a view that never returns would hold its thread for good,
and a few of them would stall the worker while gunicorn saw nothing wrong.
Python cannot stop a thread, so the watchdog does for a request what
gunicorn does for a silent worker: it ends the process, and gunicorn starts
a fresh worker in its place.

It does so gently. The worker first stops taking connections, as on any
graceful stop; the requests it is serving within their time get to finish;
then the process exits, taking the stuck thread with it, and the stuck
request's client sees its connection closed. gunicorn.conf.py starts one
watchdog per worker and tells it about requests through gunicorn's hooks.
"""

import os
import signal
import threading
import time

# How often the watchdog looks at the requests in flight.
CHECK_INTERVAL_SECONDS = 0.5

# After a graceful stop begins, gunicorn keeps kept-alive connections open
# this long for a request a client may be sending on one; so does this.
KEEPALIVE_LINGER_SECONDS = 2.0

# Any non-zero code but 3 and 4, which tell gunicorn to shut down altogether.
EXIT_CODE = 1


class RequestWatchdog:
    def __init__(self, worker):
        self.worker = worker
        self.timeout = worker.cfg.timeout
        self.graceful_timeout = worker.cfg.graceful_timeout
        # Thread id -> (start time, "METHOD /path"): a thread serves one request at a time.
        self.requests = {}
        self.lock = threading.Lock()

    def start(self):
        if self.timeout > 0:  # 0 turns gunicorn's timeout off, and this with it
            threading.Thread(target=self.watch, name="request-watchdog", daemon=True).start()

    def request_started(self, req):
        with self.lock:
            self.requests[threading.get_ident()] = (time.monotonic(), f"{req.method} {req.path}")

    def request_finished(self):
        with self.lock:
            self.requests.pop(threading.get_ident(), None)

    def watch(self):
        while not (overdue := self.overdue_requests()):
            time.sleep(CHECK_INTERVAL_SECONDS)
        self.worker.log.critical(
            "REQUEST TIMEOUT: %s ran longer than %s s; replacing worker (pid:%s)",
            overdue[0],
            self.timeout,
            os.getpid(),
        )
        os.kill(os.getpid(), signal.SIGTERM)  # the worker's own graceful stop
        stopping_since = time.monotonic()
        while time.monotonic() - stopping_since < self.graceful_timeout:
            time.sleep(CHECK_INTERVAL_SECONDS)
            lingered = time.monotonic() - stopping_since >= KEEPALIVE_LINGER_SECONDS
            if lingered and not self.requests_within_timeout():
                break
        os._exit(EXIT_CODE)

    def overdue_requests(self):
        now = time.monotonic()
        with self.lock:
            return [request for started, request in self.requests.values() if now - started > self.timeout]

    def requests_within_timeout(self):
        now = time.monotonic()
        with self.lock:
            return [request for started, request in self.requests.values() if now - started <= self.timeout]
