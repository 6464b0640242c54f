"""Which id a request gets (plumbing/request_id.py): the router's when a trusted proxy sends a valid
one, else a new one; answered in the response, on the lines logged meanwhile, and warned of when slow.
test_request_logs.py shows the same under gunicorn."""

import logging
import uuid

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from {{ cookiecutter.project_slug }}.plumbing import request_id
from {{ cookiecutter.project_slug }}.plumbing.logs import RequestIdFilter
from {{ cookiecutter.project_slug }}.plumbing.request_id import RequestIdMiddleware, forget, incoming_id

LOCAL = ["127.0.0.1", "::1"]
VALID = "a" * 20


def meta(peer="127.0.0.1", **headers):
    return {"REMOTE_ADDR": peer, **headers}


@pytest.mark.parametrize(
    "value",
    ["a" * 20, "Z" * 200, "0123456789+/=-abcdefgh", "00000000-0000-4000-8000-000000000000"],
    ids=["20", "200", "symbols", "uuid"],
)
def test_a_valid_id_from_a_trusted_proxy_is_taken(value):
    assert incoming_id(meta(HTTP_X_REQUEST_ID=value), LOCAL) == value


@pytest.mark.parametrize(
    "value",
    ["a" * 19, "a" * 201, "a" * 19 + " ", "a" * 19 + "_", "a" * 19 + ".", "a" * 19 + "\n", "é" * 20, ""],
    ids=["19", "201", "space", "underscore", "dot", "newline", "not-ascii", "empty"],
)
def test_an_invalid_id_is_not_taken(value):
    assert incoming_id(meta(HTTP_X_REQUEST_ID=value), LOCAL) is None


def test_renders_rndr_id_is_taken_and_x_request_id_wins_over_it():
    assert incoming_id(meta(HTTP_RNDR_ID=VALID), LOCAL) == VALID
    assert incoming_id(meta(HTTP_X_REQUEST_ID="x" * 20, HTTP_RNDR_ID=VALID), LOCAL) == "x" * 20
    assert incoming_id(meta(HTTP_X_REQUEST_ID="short", HTTP_RNDR_ID=VALID), LOCAL) == VALID


def test_a_peer_that_is_no_trusted_proxy_cannot_name_its_id():
    assert incoming_id(meta("203.0.113.9", HTTP_X_REQUEST_ID=VALID, HTTP_RNDR_ID=VALID), LOCAL) is None
    assert incoming_id(meta("203.0.113.9", HTTP_X_REQUEST_ID=VALID), ["203.0.113.0/24"]) == VALID
    assert incoming_id(meta("not an address", HTTP_X_REQUEST_ID=VALID), LOCAL) is None


def test_on_a_platform_any_peer_is_the_router():
    assert incoming_id(meta("10.9.8.7", HTTP_X_REQUEST_ID=VALID), ["*"]) == VALID


@pytest.fixture
def middleware(settings):
    """The middleware around a view that records the id its lines would carry."""
    settings.TRUSTED_PROXIES = "127.0.0.1, ::1"
    settings.SLOW_REQUEST_MS = 1000
    seen = {}

    def view(request):
        seen["during"] = request_id.current.get()
        return HttpResponse("ok")

    def make():
        return RequestIdMiddleware(view), seen

    yield make
    forget()


def test_the_id_is_answered_kept_for_the_request_and_forgotten_when_it_ends(middleware):
    handler, seen = middleware()
    request = RequestFactory().get("/", HTTP_X_REQUEST_ID=VALID)

    response = handler(request)

    assert response["X-Request-ID"] == request.request_id == seen["during"] == VALID
    assert request_id.current.get() == VALID  # until Django's request_finished
    forget()
    assert request_id.current.get() is None


def test_spaces_around_trusted_proxies_are_ignored(middleware, settings):
    settings.TRUSTED_PROXIES = " 10.0.0.1 , 127.0.0.1 ,"
    handler, _ = middleware()

    assert handler(RequestFactory().get("/", HTTP_X_REQUEST_ID=VALID))["X-Request-ID"] == VALID


def test_without_a_valid_id_each_request_gets_a_new_uuid(middleware):
    handler, _ = middleware()

    first, second = (handler(RequestFactory().get("/"))["X-Request-ID"] for _ in range(2))

    assert uuid.UUID(first).version == uuid.UUID(second).version == 4
    assert first != second


def test_a_request_slower_than_the_threshold_is_warned_of(middleware, settings, caplog, monkeypatch):
    clock = iter([100.0, 101.5])
    monkeypatch.setattr(request_id.time, "monotonic", lambda: next(clock))
    handler, _ = middleware()

    with caplog.at_level(logging.WARNING, logger=request_id.__name__):
        handler(RequestFactory().get("/orders/", HTTP_X_REQUEST_ID=VALID))

    [record] = caplog.records
    assert record.getMessage() == "Slow request: GET /orders/ took 1500 ms (DJANGO_SLOW_REQUEST_MS=1000)"
    assert RequestIdFilter().filter(record) and record.request_id == VALID


@pytest.mark.parametrize(("took", "threshold"), [(1.0, 1000), (5.0, 0)], ids=["at-the-threshold", "turned-off"])
def test_no_warning_at_the_threshold_or_when_turned_off(middleware, settings, caplog, monkeypatch, took, threshold):
    clock = iter([100.0, 100.0 + took])
    monkeypatch.setattr(request_id.time, "monotonic", lambda: next(clock))
    handler, _ = middleware()
    settings.SLOW_REQUEST_MS = threshold
    handler = RequestIdMiddleware(handler.get_response)

    with caplog.at_level(logging.WARNING, logger=request_id.__name__):
        handler(RequestFactory().get("/"))

    assert caplog.records == []


def test_a_line_outside_any_request_carries_a_dash():
    forget()
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)

    assert RequestIdFilter().filter(record) is True
    assert record.request_id == "-"
