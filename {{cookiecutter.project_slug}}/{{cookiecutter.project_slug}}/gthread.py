"""
Gunicorn's gthread worker, with two changes to when it accepts connections,
one to how it serves a kept-alive connection, and fewer system calls per
request.

It accepts a connection only while it has a thread free to serve it.
Gunicorn's own worker goes on accepting when every thread is busy (say,
with slow requests, or slow clients trickling in their headers) and queues
the connection behind them, even while the next worker sits idle. Left in
the listening socket's queue instead, the connection goes to the first
worker with a free thread.

A worker that stops also stops listening. When gunicorn stops (SIGTERM from
a platform, `docker stop`), each worker stops accepting and finishes the
requests it has, for up to `graceful_timeout`. Gunicorn's own worker keeps
its copy of the listening socket open meanwhile, so the kernel goes on
completing connections that no one will accept, and resets them when the
last worker exits: a client, or a load balancer, waits for nothing. This
worker serves the connections already queued and closes its copy at once,
so new connections are refused as soon as every process has stopped
accepting, and a load balancer retries them elsewhere straight away (on a
full stop the master has already made the socket ignore new connection
requests, so that none completes between the last accept and the close, to
be reset: graceful_stop.py). A worker that stops while the others go on (a
reload, `max_requests`, the request watchdog) changes nothing visible: the
socket stays open in them.

A thread that has answered a request on a kept-alive connection waits a
moment for the next request on it, and serves it too. Gunicorn's own worker
hands every such connection back to its main loop at once, which watches it
and hands it to a thread again when the next request comes: two thread
switches and three poller calls per request, more than a small view costs.
A load balancer or a browser busy with a connection sends the next request
within that moment; an idle connection goes back to the main loop as before.
So does every connection while all threads are busy, so that one busy
connection cannot keep others, or new ones, waiting for its thread.

Each system call lets go of the GIL, and getting it back means waiting for
the other threads of the worker, up to 10 ms (sys.getswitchinterval(), set
in gunicorn.conf.py) behind one that computes. So the thread reads the next
request on a kept-alive connection with the same call that finds out whether
it is there, where gunicorn makes two, and it sends a response's status line
and headers with the first bytes of its body, where gunicorn makes a call,
and a TCP packet, for each: three system calls per request instead of five.
On a small JSON view that took 0-12 % less CPU per request in four sweeps
(the template's benchmarks/results/FINDINGS.md, section 24).
"""

import functools
import select
import socket
import ssl

from gunicorn.http import wsgi
from gunicorn.workers import gthread

# Long enough for a busy client's next request on the same connection,
# short enough that an idle connection holds the thread for no longer than
# a small request takes to serve.
NEXT_REQUEST_WAIT_MILLISECONDS = 1


class ThreadWorker(gthread.ThreadWorker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Changed on the main thread only: when a request is handed to a
        # thread, and when the thread hands back its connection. Request
        # threads only read it.
        self.busy_threads = 0

    def init_process(self):
        # Gunicorn's gthread worker makes each response with wsgi.create();
        # in this worker process, make it one of the Response class below.
        wsgi.create = functools.partial(wsgi.create, response_class=Response)
        super().init_process()

    def has_idle_thread(self):
        return self.busy_threads < self.cfg.threads

    def handle(self, conn):
        """Serve a connection's requests while they come without a pause (runs in a request thread)."""
        keepalive = super().handle(conn)
        while keepalive is True and self.alive and self.has_idle_thread() and next_request_arrives(conn):
            keepalive = super().handle(conn)
        return keepalive

    def enqueue_req(self, conn):
        self.busy_threads += 1
        super().enqueue_req(conn)
        if self.alive and not self.has_idle_thread():
            self.set_accept_enabled(False)  # gunicorn's main loop asks again after each request

    def finish_request(self, conn, fs):
        self.busy_threads -= 1
        super().finish_request(conn, fs)

    def set_accept_enabled(self, enabled):
        super().set_accept_enabled(enabled and self.has_idle_thread())
        if not enabled and not self.alive:
            for listener in self.sockets:
                self.accept_queued_connections(listener)
                listener.close()

    def accept_queued_connections(self, listener):
        queued = select.poll()
        queued.register(listener, select.POLLIN)
        while queued.poll(0):
            self.accept(listener)


def next_request_arrives(conn):
    """Whether the next request on a kept-alive connection is there, or comes within NEXT_REQUEST_WAIT_MILLISECONDS.

    What has arrived is read into the parser's buffer on the way.
    """
    parser_buffer = conn.parser.unreader
    if parser_buffer.buf.getvalue():  # already read with the last request
        return True
    if not isinstance(conn.sock, ssl.SSLSocket):  # whose recv() takes no flags
        try:
            # b"" when the client has closed: the parser then finds that out again.
            parser_buffer.unread(conn.sock.recv(parser_buffer.mxchunk, socket.MSG_DONTWAIT))
            return True
        except BlockingIOError:
            pass
        except OSError:  # a broken connection: gunicorn's own handling of it takes over
            return True
    next_request = select.poll()
    next_request.register(conn.sock, select.POLLIN)
    return bool(next_request.poll(NEXT_REQUEST_WAIT_MILLISECONDS))


class Response(wsgi.Response):
    """Gunicorn's response, sending the status line and headers in one call with the first body bytes.

    Only a write that is sure to send body bytes holds the headers back:
    responses without a body, chunked ones and files sent with sendfile()
    send their headers as gunicorn does.
    """

    held_headers = b""
    hold_headers = False

    def write(self, data):
        self.hold_headers = (
            not self.headers_sent and isinstance(data, bytes) and len(data) > 0
            and not self.chunked and not self._omits_body and self.response_length != 0
        )
        super().write(data)

    def send_headers(self):
        if self.headers_sent or not self.hold_headers:
            return super().send_headers()
        # Gunicorn's own header block, byte for byte (test_responses.py compares them).
        lines = self.default_headers() + [f"{name}: {value}\r\n" for name, value in self.headers]
        self.held_headers = ("".join(lines) + "\r\n").encode("latin-1")
        self.headers_sent = True

    def _emit_body(self, data):
        data, self.held_headers = self.held_headers + data, b""
        super()._emit_body(data)
