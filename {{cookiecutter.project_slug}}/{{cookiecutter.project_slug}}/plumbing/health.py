"""Liveness and readiness endpoints for load balancers and orchestrators.

/healthz answers 200 whenever the process can serve a request. It touches no
database, so a database outage never gets every instance restarted.
/readyz answers 503 when the database is down, so traffic is held back
from an instance that cannot serve it, and 200 otherwise, including when
every one of the worker's pooled connections is busy under load: the
database is answering then, and pulling every loaded instance out of
rotation at once would turn a spike into an outage (database.py decides).
"""

import logging

from django.http import HttpResponse

from .database import database_state

LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"

logger = logging.getLogger(__name__)


class HealthCheckMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == LIVENESS_PATH:
            return plain_response("ok", status=200)
        if request.path == READINESS_PATH:
            return readiness()
        return self.get_response(request)


def readiness():
    state, detail = database_state()
    if state == "down":
        logger.warning("Readiness check failed: the database did not answer: %s", detail)
        return plain_response("database unavailable", status=503)
    if state == "busy":
        return plain_response(f"ok: busy, {detail}", status=200)
    return plain_response("ok", status=200)


def plain_response(text, status):
    response = HttpResponse(text, status=status, content_type="text/plain")
    # A cached "ok" would hide an outage.
    response["Cache-Control"] = "no-store"
    # These answers skip CommonMiddleware, which sets it for other pages.
    # Without it gunicorn sends the answer in chunks: three packets, not one.
    response["Content-Length"] = len(response.content)
    return response
