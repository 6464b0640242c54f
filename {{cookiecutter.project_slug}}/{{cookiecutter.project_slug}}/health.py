"""Liveness and readiness endpoints for load balancers and orchestrators.

/healthz answers 200 whenever the process can serve a request. It touches no
database, so a database outage never gets every instance restarted.
/readyz answers 200 only when the database answers too, and 503 otherwise,
so traffic is held back from an instance that cannot serve it.
"""

import logging

from django.db import Error as DatabaseError
from django.db import connection
from django.http import HttpResponse

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
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as error:
        logger.warning("Readiness check failed: the database did not answer: %s", error)
        return plain_response("database unavailable", status=503)
    return plain_response("ok", status=200)


def plain_response(text, status):
    response = HttpResponse(text, status=status, content_type="text/plain")
    # A cached "ok" would hide an outage.
    response["Cache-Control"] = "no-store"
    # These answers skip CommonMiddleware, which sets it for other pages.
    # Without it gunicorn sends the answer in chunks: three packets, not one.
    response["Content-Length"] = len(response.content)
    return response
