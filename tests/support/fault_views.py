"""Views the template's tests add to a copy of the baked project; never part
of the template. Copied in as <package>/fault_views.py, with its urlpatterns
appended to the project's."""

import gc
import os
import sys
import time

from django.core.cache import cache
from django.db import connection
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import path


def slow(request):
    time.sleep(float(request.GET["seconds"]))
    return HttpResponse("done", content_type="text/plain")


def remote_addr(request):
    """The client address Django was given."""
    return HttpResponse(request.META["REMOTE_ADDR"], content_type="text/plain")


def database_hold(request):
    """A view that holds a database connection, as one running a query does."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s)", [float(request.GET["seconds"])])
    return HttpResponse("held", content_type="text/plain")


def cached(request):
    """?set=KEY&value=VALUE stores in the cache; ?get=KEY answers what it holds."""
    if "set" in request.GET:
        cache.set(request.GET["set"], request.GET["value"], timeout=300)
        return HttpResponse("stored", content_type="text/plain")
    return HttpResponse(str(cache.get(request.GET["get"])), content_type="text/plain")


def bad_header(request):
    """A header value gunicorn refuses to send (a control character in it)."""
    response = HttpResponse("never sent", content_type="text/plain")
    response.headers["X-Broken"] = "a\x01b"
    return response


def hang(request):
    while True:  # a view that never returns, e.g. stuck on a lock or a socket
        time.sleep(1)


def stream(request):
    """?chunks=N&every=S: a line every S seconds, N of them, as a report or an event feed streams."""

    def lines():
        for number in range(int(request.GET["chunks"])):
            time.sleep(float(request.GET["every"]))
            yield f"chunk {number}\n"

    return StreamingHttpResponse(lines(), content_type="text/plain")


def stream_then_hang(request):
    """A stream whose application hangs after its first line, e.g. waiting on a socket for the next."""

    def lines():
        yield "chunk 0\n"
        while True:
            time.sleep(1)

    return StreamingHttpResponse(lines(), content_type="text/plain")


def large(request):
    """?megabytes=N: a body of N MiB, made at once; sending it takes as long as the client reads."""
    return HttpResponse(b"x" * (int(request.GET["megabytes"]) << 20), content_type="application/octet-stream")


def inline_style(request):
    """A page that breaks the Content-Security-Policy: proves a check sees it."""
    return HttpResponse('<!doctype html><title>x</title><p style="color: red">inline</p>')


def collect_garbage(request):
    """A full collection, as a worker's collector runs now and then under load; answers the worker's PID."""
    gc.collect()
    return HttpResponse(str(os.getpid()), content_type="text/plain")


def gil_switch_interval(request):
    """The worker's PID, and how long (s) a computing thread of it keeps the GIL from the others."""
    return HttpResponse(f"{os.getpid()} {sys.getswitchinterval()!r}", content_type="text/plain")


urlpatterns = [
    path("faults/slow", slow),
    path("faults/remote-addr", remote_addr),
    path("faults/hang", hang),
    path("faults/stream", stream),
    path("faults/stream-then-hang", stream_then_hang),
    path("faults/large", large),
    path("faults/bad-header", bad_header),
    path("faults/database-hold", database_hold),
    path("faults/cache", cached),
    path("faults/inline-style", inline_style),
    path("faults/collect-garbage", collect_garbage),
    path("faults/gil-switch-interval", gil_switch_interval),
]
