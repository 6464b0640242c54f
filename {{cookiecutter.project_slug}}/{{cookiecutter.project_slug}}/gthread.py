"""
Gunicorn's gthread worker, except that a worker that stops also stops listening.

When gunicorn stops (SIGTERM from a platform, `docker stop`), each worker
stops accepting connections and finishes the requests it has, for up to
`graceful_timeout`. Gunicorn's own worker keeps its copy of the listening
socket open meanwhile, so the kernel goes on completing connections that no
one will accept, and resets them when the last worker exits: a client, or a
load balancer, waits up to `graceful_timeout` for nothing. This worker
serves the connections already queued and closes its copy at once, so new
connections are refused from the moment every process has stopped
accepting, and a load balancer retries them elsewhere straight away.

A worker that stops while the others go on (a reload, `max_requests`, the
request watchdog) changes nothing visible: the socket stays open in them.
"""

import select

from gunicorn.workers import gthread


class ThreadWorker(gthread.ThreadWorker):
    def set_accept_enabled(self, enabled):
        super().set_accept_enabled(enabled)
        if not enabled and not self.alive:
            for listener in self.sockets:
                self.accept_queued_connections(listener)
                listener.close()

    def accept_queued_connections(self, listener):
        queued = select.poll()
        queued.register(listener, select.POLLIN)
        while queued.poll(0):
            self.accept(listener)
