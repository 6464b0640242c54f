"""
Cut off a request whose application runs longer than gunicorn's `timeout`.

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

It times the application, not the client: a request's clock runs from
gunicorn's pre_request hook until the application returns its response,
then again while the application makes each next chunk of the body, and
each time from zero. Sending to the client stops it, so a long download or
a stream to a slow client is never cut off, while a view that never returns
or a stream that hangs between chunks is. server/wsgi_wrapper.py stops and starts
the clock.
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

# The watchdog watching this worker process, once started: the WSGI wrapper
# (server/wsgi_wrapper.py) tells it when a request waits on its client. gunicorn
# loads the app before forking, so the wrapper can only find the worker's
# watchdog here, at the time of each request.
of_this_worker = None


class RequestWatchdog:
    def __init__(self, worker):
        self.worker = worker
        self.timeout = worker.cfg.timeout
        self.graceful_timeout = worker.cfg.graceful_timeout
        # Thread id -> (start time, "METHOD /path"): a thread serves one request at a time.
        # The start time is None while the request waits on its client.
        self.requests = {}
        self.lock = threading.Lock()

    def start(self):
        global of_this_worker
        if self.timeout > 0:  # 0 turns gunicorn's timeout off, and this with it
            of_this_worker = self
            threading.Thread(target=self.watch, name="request-watchdog", daemon=True).start()

    def request_started(self, req):
        with self.lock:
            self.requests[threading.get_ident()] = (time.monotonic(), f"{req.method} {req.path}")

    def waiting_on_client(self):
        """The application has handed over the response, or its next chunk: stop this thread's clock."""
        self.set_clock(None)

    def application_working(self):
        """The application is at work again (making the next chunk): restart this thread's clock from zero."""
        self.set_clock(time.monotonic())

    def set_clock(self, started):
        with self.lock:
            timed = self.requests.get(threading.get_ident())
            # A request gunicorn never announced (no pre_request) has no clock to set.
            if timed is not None:
                self.requests[threading.get_ident()] = (started, timed[1])

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
            return [
                request
                for started, request in self.requests.values()
                if started is not None and now - started > self.timeout
            ]

    def requests_within_timeout(self):
        now = time.monotonic()
        with self.lock:
            return [
                request
                for started, request in self.requests.values()
                if started is None or now - started <= self.timeout
            ]
