"""What gunicorn serves around the project's own WSGI application (server/wsgi.py
puts the two together): the request watchdog told when a request waits on
its client rather than on the application, and a warning when a proxy the
app does not trust says a request came over HTTPS.

The watchdog cuts off a request whose application runs past `timeout`
(server/watchdog.py). Sending the response is not the application's work:
a large download or a stream to a slow client may take as long as the
client needs. So the clock stops when the application returns its
response and runs again only while the application makes each next chunk
of the body. A file gunicorn sends itself (`wsgi.file_wrapper`, which
Django's FileResponse uses) is handed back untouched, so that gunicorn
still recognises it and sends it with sendfile.

Behind a proxy whose address is not in FORWARDED_ALLOW_IPS, gunicorn rightly
ignores the proxy's `X-Forwarded-Proto: https`, so every request looks like
plain HTTP and every page redirects to itself. Nothing else says why, so the
first such request of each worker logs a warning that names the address.
"""

import logging
import threading

from . import watchdog

logger = logging.getLogger(__name__)


def wrapped(project_application):
    """`project_application` with the watchdog's clock and the untrusted-proxy warning around it."""

    def application(environ, start_response):
        untrusted_proxy_warning.check(environ)
        body = project_application(environ, start_response)
        request_watchdog = watchdog.of_this_worker
        if request_watchdog is None:  # no watchdog runs (gunicorn's timeout is off)
            return body
        request_watchdog.waiting_on_client()
        if isinstance(body, environ["wsgi.file_wrapper"]):
            return body
        return TimedBody(body, request_watchdog)

    return application


class TimedBody:
    """A response body whose chunks are timed by the watchdog while the application makes them, and only then."""

    def __init__(self, body, request_watchdog):
        self.body = body
        self.chunks = iter(body)
        self.watchdog = request_watchdog

    def __iter__(self):
        return self

    def __next__(self):
        self.watchdog.application_working()
        try:
            return next(self.chunks)
        finally:
            self.watchdog.waiting_on_client()

    def close(self):
        # Django closes the request's database connections and sends
        # request_finished here: the application's work, timed as such.
        self.watchdog.application_working()
        if hasattr(self.body, "close"):
            self.body.close()


class UntrustedProxyWarning:
    """Logs the first request that claims HTTPS from a peer gunicorn does not trust, and no other."""

    def __init__(self):
        self.lock = threading.Lock()
        self.logged = False

    def check(self, environ):
        # From a trusted peer, gunicorn turns `X-Forwarded-Proto: https` into the https scheme.
        if environ.get("HTTP_X_FORWARDED_PROTO") != "https" or environ["wsgi.url_scheme"] != "http":
            return
        with self.lock:
            if self.logged:
                return
            self.logged = True
        logger.warning(
            "A request from %(peer)s says X-Forwarded-Proto: https, but %(peer)s is not a trusted proxy, so it is "
            "treated as plain HTTP (and redirected to HTTPS if SECURE_SSL_REDIRECT is on). If %(peer)s is your load "
            "balancer, set FORWARDED_ALLOW_IPS=%(peer)s (or its network). (Logged once per worker.)",
            {"peer": environ["REMOTE_ADDR"]},
        )


# One per worker: gunicorn forks each worker from a master that serves no request.
untrusted_proxy_warning = UntrustedProxyWarning()
