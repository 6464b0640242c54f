"""The PostgreSQL connection pool, as requests and health checks see it.

Each gunicorn worker has a pool of its own (settings.DATABASES, OPTIONS
"pool"), opened on its first query, so an instance never holds more than
DATABASE_MAX_CONNECTIONS. A request takes a connection from its worker's
pool at its first query and gives it back when it ends. When every
connection is taken, it waits, up to DATABASE_POOL_TIMEOUT seconds; past
that it gets a 503 with Retry-After (DatabaseBusyMiddleware below) rather
than a 500, and requests that need no database go on being served by the
worker's other threads.
"""

import logging
import time

from django.db import Error as DatabaseError
from django.db import OperationalError, connection
from django.http import HttpResponse
from psycopg import Error as PsycopgError
from psycopg_pool import PoolTimeout

# Long enough for a pooled connection to come free under load (a request
# holds one for tens of milliseconds), short enough for a readiness probe
# (Kubernetes gives one a second by default).
READINESS_WAIT_SECONDS = 0.5

# How soon a client turned away because every connection was busy may try
# again: by then the requests holding them have most likely finished.
RETRY_AFTER_SECONDS = 2

logger = logging.getLogger(__name__)


class DatabaseBusyMiddleware:
    """Answer 503 with Retry-After when a view waited too long for a pooled connection."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not (isinstance(exception, OperationalError) and isinstance(exception.__cause__, PoolTimeout)):
            return None
        logger.warning("Every database connection stayed busy; %s %s answered 503", request.method, request.path)
        response = HttpResponse(
            "Service busy: every database connection is in use. Try again shortly.\n",
            status=503,
            content_type="text/plain",
        )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response


class PoolHealth:
    """When this worker last reached the database, and when it last failed to.

    A success: a request took a connection from the pool, which the pool
    checks first (Django's connection_created signal, sent on each), or the
    readiness check's own query answered. A failure: the pool failed to
    make a connection, found one broken when it checked it, or had one
    handed back broken.
    """

    FAILURE_STATS = ("connections_errors", "connections_lost", "returns_bad")

    def __init__(self):
        self.last_success = self.last_failure = None
        self.failures_seen = 0

    def connection_taken(self, sender, connection, **kwargs):
        if connection.vendor == "postgresql":
            self.succeeded()

    def succeeded(self):
        self.last_success = time.monotonic()

    def take_stock(self, pool):
        """Note it if the pool has met a failure since the last look."""
        failures = sum(pool.get_stats().get(name, 0) for name in self.FAILURE_STATS)
        if failures > self.failures_seen:
            self.last_failure = time.monotonic()
        self.failures_seen = failures

    def failing(self):
        """Whether the latest news is a failure; no news yet counts as one."""
        return self.last_success is None or (self.last_failure is not None and self.last_failure >= self.last_success)


pool_health = PoolHealth()


def database_state():
    """("ok", ""), ("busy", detail) or ("down", reason), for the readiness check.

    Busy: no pooled connection came free within READINESS_WAIT_SECONDS, and
    the pool's latest news of the database is good (a connection passed its
    check, or was made, after the last one that failed). The database is
    answering then; this worker is just loaded. Down: the latest news is a
    failure, or the database refused the query.
    """
    pool = connection.pool if connection.vendor == "postgresql" else None
    if pool is None:
        return _state_by_query()
    pool.open()  # as Django does before its first query; a no-op once open
    started = time.monotonic()
    try:
        with pool.connection(timeout=READINESS_WAIT_SECONDS) as pooled:
            pooled.execute("SELECT 1")
    except PoolTimeout:
        pool_health.take_stock(pool)
        if pool_health.failing():
            return (
                "down",
                f"no pooled connection within {READINESS_WAIT_SECONDS} s, "
                "and the last attempt to reach the database failed",
            )
        return (
            "busy",
            f"all {pool.max_size} connections of this worker stayed in use for {time.monotonic() - started:.1f} s",
        )
    except PsycopgError as error:
        return "down", str(error)
    pool_health.succeeded()
    return "ok", ""


def _state_by_query():
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as error:
        return "down", str(error)
    return "ok", ""
