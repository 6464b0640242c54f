"""Worker classes to sweep the template's own against, e.g.

    python3 benchmarks/sweep.py --name keepalive-handoff --config "" \
        --config "worker_class='benchsite.workers.HandsBackEveryConnection'"
"""

import select
import threading
import time

from gunicorn.workers import gthread

from ${project_slug}.gthread import NEXT_REQUEST_WAIT_MILLISECONDS, ThreadWorker


class HandsBackEveryConnection(ThreadWorker):
    """The template's worker without its wait for the next request on a kept-alive connection:
    the connection goes back to gunicorn's main loop after every request, as in stock gthread."""

    handle = gthread.ThreadWorker.handle


class MakesGunicornsCalls(ThreadWorker):
    """The template's worker with gunicorn's own system calls per request, as it was before
    FINDINGS.md section 24: a poll() before gunicorn's parser reads the next request on a
    kept-alive connection, and a response's headers in a sendall() of their own."""

    def init_process(self):
        gthread.ThreadWorker.init_process(self)  # leaves gunicorn's wsgi.create() as it is

    def handle(self, conn):
        keepalive = gthread.ThreadWorker.handle(self, conn)
        while keepalive is True and self.alive and self.has_idle_thread() and next_request_polled(conn):
            keepalive = gthread.ThreadWorker.handle(self, conn)
        return keepalive


def next_request_polled(conn):
    if conn.parser.unreader.buf.getvalue():
        return True
    next_request = select.poll()
    next_request.register(conn.sock, select.POLLIN)
    return bool(next_request.poll(NEXT_REQUEST_WAIT_MILLISECONDS))


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
