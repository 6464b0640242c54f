"""One id per request, from the platform's router to the response and every log line.

Heroku's router gives each request an id in X-Request-ID (passing on the
client's own when it is a valid one) and logs it on its own line for the
request; Render's gives one in Rndr-Id. The app takes that id, so that the
router's line, the app's lines and the error report of one request can be
found together; where there is none, or it is not 20 to 200 letters,
digits and + / = - (Heroku's rule, so that a header cannot smuggle spaces,
quotes or line breaks into the logs), the app makes one (a UUID).

The headers are believed only from a trusted proxy (FORWARDED_ALLOW_IPS, as
for X-Forwarded-For: any peer on Heroku and Render, only this machine
elsewhere). A client reaching the app directly gets an id of the app's own
making, whatever it sends: it could otherwise give its requests the id of
someone else's and muddle their lines.

The id is answered in the response's X-Request-ID, and kept for the thread
serving the request (a context variable) until Django's request_finished
signal: the logging filter (logs.py) writes it on each line logged
meanwhile, gunicorn's access line included.
"""

import contextvars
import logging
import re
import time
import uuid

from django.conf import settings

from .server.network import as_address, is_proxy, networks_of

RESPONSE_HEADER = "X-Request-ID"
# The headers a router may send the id in, first found first taken: Heroku's (and most proxies'), Render's.
INCOMING_HEADERS = ("HTTP_X_REQUEST_ID", "HTTP_RNDR_ID")
VALID_ID = re.compile(r"[A-Za-z0-9+/=-]{20,200}")

current = contextvars.ContextVar("request_id", default=None)
logger = logging.getLogger(__name__)


def incoming_id(meta, trusted_proxies):
    """The id a trusted proxy sent with the request (`meta`, Django's request.META), or None."""
    peer = as_address(meta.get("REMOTE_ADDR"))
    if "*" not in trusted_proxies and not is_proxy(peer, networks_of(tuple(trusted_proxies))):
        return None
    for header in INCOMING_HEADERS:
        value = meta.get(header)
        if value and VALID_ID.fullmatch(value):
            return value
    return None


class RequestIdMiddleware:
    """First of the middleware: sets the request's id, answers it, and warns of a slow request."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.trusted_proxies = [entry.strip() for entry in settings.TRUSTED_PROXIES.split(",") if entry.strip()]
        self.slow_request_ms = settings.SLOW_REQUEST_MS

    def __call__(self, request):
        request.request_id = incoming_id(request.META, self.trusted_proxies) or str(uuid.uuid4())
        current.set(request.request_id)
        started = time.monotonic()
        response = self.get_response(request)
        response[RESPONSE_HEADER] = request.request_id
        took_ms = (time.monotonic() - started) * 1000
        if self.slow_request_ms and took_ms > self.slow_request_ms:
            logger.warning(
                "Slow request: %s %s took %d ms (DJANGO_SLOW_REQUEST_MS=%d)",
                request.method,
                request.path,
                took_ms,
                self.slow_request_ms,
            )
        return response


def forget(**kwargs):
    """Django's request_finished signal: lines this thread logs from now on belong to no request."""
    current.set(None)
