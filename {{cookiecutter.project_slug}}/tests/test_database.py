"""What requests and the readiness check see of this worker's PostgreSQL connection pool (plumbing/database.py).

The pool is played by a stand-in that answers as psycopg_pool's does, so these
run without PostgreSQL, and on a clock moved by hand: a wait costs no time.
"""

from contextlib import contextmanager
from types import SimpleNamespace

import psycopg
import pytest
from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper
from psycopg_pool import PoolClosed, PoolTimeout

from {{ cookiecutter.project_slug }}.plumbing import database
from {{ cookiecutter.project_slug }}.plumbing.database import PoolHealth, database_state

# A returning visitor: the page they ask for reads their session from the database.
SESSION_COOKIE = "returning0visitor0session0key000"


def taking_a_connection_fails_with(error):
    """Django's way to a connection, failing as on PostgreSQL when psycopg_pool's getconn() raises
    `error`: Django raises its own OperationalError from it (the backend's DatabaseErrorWrapper)."""

    def ensure_connection(self):
        raise OperationalError(str(error)) from error

    return ensure_connection


def test_a_request_that_waits_past_the_pool_timeout_gets_503_with_retry_after(client, monkeypatch, caplog):
    busy = PoolTimeout("couldn't get a connection after 10.00 sec")
    monkeypatch.setattr(BaseDatabaseWrapper, "ensure_connection", taking_a_connection_fails_with(busy))
    client.cookies["sessionid"] = SESSION_COOKIE

    response = client.get("/admin/", secure=True)

    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    assert response["Content-Type"] == "text/plain"
    assert response.content == b"Service busy: every database connection is in use. Try again shortly.\n"
    logged = [(record.levelname, record.getMessage()) for record in caplog.records if record.name == database.__name__]
    assert logged == [("WARNING", "Every database connection stayed busy; GET /admin/ answered 503")]


def test_a_database_that_refuses_connections_is_a_server_error_not_a_busy_one(client, monkeypatch):
    refused = psycopg.OperationalError("connection refused")
    monkeypatch.setattr(BaseDatabaseWrapper, "ensure_connection", taking_a_connection_fails_with(refused))
    client.cookies["sessionid"] = SESSION_COOKIE
    client.raise_request_exception = False

    response = client.get("/admin/", secure=True)

    assert response.status_code == 500
    assert "Retry-After" not in response


@pytest.mark.django_db
def test_readiness_is_ok_when_the_database_answers_a_query():
    assert database_state() == ("ok", "")


class Clock:
    """time.monotonic() as plumbing/database.py reads it, moved only by the pool: its waits, a millisecond a query."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now


class Pool:
    """This worker's psycopg_pool.ConnectionPool: closed until opened, then lending connections
    or, while every one of them is busy, waiting for one for as long as it is asked to."""

    max_size = 4
    timeout = 10.0  # its own wait when none is asked for: DATABASE_POOL_TIMEOUT

    def __init__(self, clock):
        self.clock = clock
        self.is_open = False
        self.busy = False
        self.error = None  # what a query gets from the database, if it fails
        self.stats = {}  # psycopg_pool's counters appear once they are above zero

    def open(self):
        self.is_open = True

    @contextmanager
    def connection(self, timeout=None):
        if not self.is_open:
            raise PoolClosed("the pool 'pool-1' is not open yet")
        if self.busy:
            waited = self.timeout if timeout is None else timeout
            self.clock.now += waited
            raise PoolTimeout(f"couldn't get a connection after {waited:.2f} sec")
        yield self

    def execute(self, query):
        self.clock.now += 0.001
        if self.error:
            raise self.error
        if query.upper() != "SELECT 1":
            raise psycopg.errors.SyntaxError(f"syntax error at or near {query.split()[0]!r}")

    def get_stats(self):
        return dict(self.stats)


@pytest.fixture
def pool(monkeypatch):
    """A worker on PostgreSQL that has just started: no news of the database yet."""
    clock = Clock()
    pool = Pool(clock)
    monkeypatch.setattr(database, "time", clock)
    monkeypatch.setattr(database, "connection", SimpleNamespace(vendor="postgresql", pool=pool))
    monkeypatch.setattr(database, "pool_health", PoolHealth())
    return pool


def test_readiness_is_ok_when_a_pooled_connection_answers(pool):
    assert database_state() == ("ok", "")


def test_readiness_says_down_with_the_databases_error_when_the_query_fails(pool):
    pool.error = psycopg.OperationalError("server closed the connection unexpectedly")

    assert database_state() == ("down", "server closed the connection unexpectedly")


def test_a_worker_with_no_news_of_the_database_yet_counts_it_down_when_no_connection_comes_free(pool):
    pool.busy = True

    assert database_state() == (
        "down",
        "no pooled connection within 0.5 s, and the last attempt to reach the database failed",
    )


def test_when_every_connection_stays_busy_after_the_database_answered_readiness_says_busy_within_half_a_second(pool):
    database_state()
    pool.busy = True

    assert database_state() == ("busy", "all 4 connections of this worker stayed in use for 0.5 s")


def test_a_request_taking_a_postgresql_connection_is_news_that_the_database_answers(pool):
    # As Django's connection_created signal tells it, for each connection a request takes (apps.py).
    database.pool_health.connection_taken(sender=None, connection=SimpleNamespace(vendor="postgresql"))
    pool.busy = True

    assert database_state()[0] == "busy"


@pytest.mark.parametrize("failure", PoolHealth.FAILURE_STATS)
def test_readiness_says_down_once_the_pool_has_failed_since_the_database_last_answered(pool, failure):
    database_state()
    pool.stats = {failure: 1}
    pool.busy = True

    assert database_state()[0] == "down"


def test_a_failure_is_news_once_and_the_database_answering_again_outdates_it(pool):
    database_state()
    pool.stats = {"connections_errors": 1}
    pool.busy = True
    assert database_state()[0] == "down"

    pool.busy = False
    assert database_state() == ("ok", "")
    pool.busy = True
    assert database_state()[0] == "busy"


def test_news_of_a_failure_at_the_same_clock_reading_as_a_success_counts_as_a_failure(pool):
    """A coarse clock can give both one reading; readiness then errs towards down."""
    health = PoolHealth()
    health.succeeded()
    pool.stats = {"connections_lost": 1}
    health.take_stock(pool)

    assert health.failing()
