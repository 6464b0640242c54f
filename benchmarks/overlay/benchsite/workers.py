"""Worker classes to sweep the template's own against, e.g.

    python3 benchmarks/sweep.py --name keepalive-handoff --config "" \
        --config "worker_class='benchsite.workers.HandsBackEveryConnection'"
"""

import functools
import socket
import threading
import time

from gunicorn.http import wsgi
from gunicorn.workers import gthread

from ${project_slug}.gthread import ThreadWorker, next_request_arrives


class HandsBackEveryConnection(ThreadWorker):
    """The template's worker without its wait for the next request on a kept-alive connection:
    the connection goes back to gunicorn's main loop after every request, as in stock gthread."""

    handle = gthread.ThreadWorker.handle


class SendsHeadersWithBody(ThreadWorker):
    """The template's worker, sending a response's status line and headers in one sendall()
    with its first body bytes (HeadersWithBody; FINDINGS.md, section 24)."""

    def init_process(self):
        # gthread's handle_request() makes each response with wsgi.create().
        wsgi.create = functools.partial(wsgi.create, response_class=HeadersWithBody)
        super().init_process()


class ReadsNextRequestAtOnce(SendsHeadersWithBody):
    """SendsHeadersWithBody, also reading the next request on a kept-alive connection with the
    recv() that finds out whether it is there, instead of a poll() and then the parser's recv()."""

    def handle(self, conn):
        keepalive = gthread.ThreadWorker.handle(self, conn)
        while keepalive is True and self.alive and self.has_idle_thread() and next_request_read(conn):
            keepalive = gthread.ThreadWorker.handle(self, conn)
        return keepalive


def next_request_read(conn):
    parser_buffer = conn.parser.unreader
    if parser_buffer.buf.getvalue():
        return True
    try:
        # b"" when the client has closed: the parser then finds that out again.
        parser_buffer.unread(conn.sock.recv(parser_buffer.mxchunk, socket.MSG_DONTWAIT))
        return True
    except BlockingIOError:
        return next_request_arrives(conn)
    except OSError:
        return True  # gunicorn's own handling of a broken connection takes over


class HeadersWithBody(wsgi.Response):
    """Gunicorn's response, holding its headers back for the first body bytes when a write is
    sure to send some: responses without a body, chunked ones and sendfile() are unchanged."""

    held_headers = b""
    hold_headers = False

    def write(self, data):
        self.hold_headers = (
            not self.headers_sent and isinstance(data, bytes) and data and not self.chunked
            and not self._omits_body and self.response_length != 0
        )
        super().write(data)

    def send_headers(self):
        if self.headers_sent or not self.hold_headers:
            return super().send_headers()
        lines = self.default_headers() + [f"{name}: {value}\r\n" for name, value in self.headers]
        self.held_headers = ("".join(lines) + "\r\n").encode("latin-1")
        self.headers_sent = True

    def _emit_body(self, data):
        data, self.held_headers = self.held_headers + data, b""
        super()._emit_body(data)


class AdmitsInTurns(ThreadWorker):
    """The template's worker, running a request only in one of the turns that new_turns() gives;
    threads without a turn wait for one without asking for the GIL (FINDINGS.md, section 16)."""

    def new_turns(self):
        raise NotImplementedError

    def init_process(self):
        self.turns = self.new_turns()
        super().init_process()

    def handle_request(self, req, conn):
        with self.turns:
            return super().handle_request(req, conn)


class AdmitsTwoAtOnce(AdmitsInTurns):
    """At most two requests at once, whatever they do."""

    def new_turns(self):
        return threading.Semaphore(2)


class AdmitsByGilWait(AdmitsInTurns):
    """As many requests at once as the worker has threads while the GIL is free, down to two while it is busy."""

    def new_turns(self):
        return TurnsByGilWait(self.cfg.threads)


class TurnsByGilWait:
    """A thread sleeps 5 ms, times how late it gets the GIL back, and keeps a running average:
    above 2 ms, one turn fewer (down to two); below 1 ms, one more (up to `most`)."""

    PROBE_SECONDS = 0.005
    BUSY_SECONDS = 0.002
    LEAST = 2

    def __init__(self, most):
        self.most = most
        self.limit = most
        self.running = 0
        self.wait_average = 0.0
        lock = threading.Lock()
        self.turn_freed = threading.Condition(lock)
        self.work_arrived = threading.Condition(lock)
        threading.Thread(target=self.follow_the_gil, daemon=True).start()

    def __enter__(self):
        with self.turn_freed:
            while self.running >= self.limit:
                self.turn_freed.wait()
            self.running += 1
            self.work_arrived.notify()

    def __exit__(self, *exc_info):
        with self.turn_freed:
            self.running -= 1
            self.turn_freed.notify()

    def follow_the_gil(self):
        while True:
            with self.work_arrived:
                while self.running == 0 and self.limit == self.most:
                    self.work_arrived.wait()
            asleep = time.perf_counter()
            time.sleep(self.PROBE_SECONDS)
            wait = time.perf_counter() - asleep - self.PROBE_SECONDS
            self.wait_average += (wait - self.wait_average) / 4
            with self.turn_freed:
                if self.wait_average > self.BUSY_SECONDS:
                    self.limit = max(self.LEAST, self.limit - 1)
                elif self.wait_average < self.BUSY_SECONDS / 2 and self.limit < self.most:
                    self.limit += 1
                    self.turn_freed.notify()
