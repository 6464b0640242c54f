"""Tasks and views the template's tests add to a copy of a project baked with
background_tasks=yes; never part of the template. Copied in as
<package>/task_views.py, with its urlpatterns appended to the project's.

Each task run appends lines to the file TASK_RUN_LOG names ("start MARKER PID
TIME", "end MARKER PID TIME"), opened for appending, so the tests can see every
run of every task, which process ran it and when, across worker processes.
"""

import os
import time
from functools import partial

from django.db import connection, transaction
from django.http import HttpResponse, JsonResponse
from django.urls import path

try:
    from django.tasks import task
except ImportError:  # Django 5.2: the backport
    from django_tasks import task


def note(event, marker):
    if "TASK_RUN_LOG" not in os.environ:  # in a container, the task's result alone tells
        return
    with open(os.environ["TASK_RUN_LOG"], "a") as log:
        log.write(f"{event} {marker} {os.getpid()} {time.time():.6f}\n")


@task
def record(marker, seconds=0):
    """Log its start, take `seconds`, log its end; the marker is its result."""
    note("start", marker)
    time.sleep(seconds)
    note("end", marker)
    return marker


@task
def fail(marker):
    note("start", marker)
    raise ValueError(f"task {marker} failed on purpose")


def enqueue(request):
    """Enqueue record(marker) once this request's transaction commits; answer the task's id."""
    enqueued = []
    with transaction.atomic():
        transaction.on_commit(lambda: enqueued.append(record.enqueue(request.GET["marker"])))
    return JsonResponse({"id": str(enqueued[0].id)})


def enqueue_then_fail(request):
    """Enqueue on commit, then fail before the transaction commits."""
    with transaction.atomic():
        transaction.on_commit(partial(record.enqueue, request.GET["marker"]))
        raise RuntimeError("the request failed after enqueuing")


def database_hold(request):
    """A request that holds a database connection a while, as one running a query does."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s)", [float(request.GET["seconds"])])
    return HttpResponse("held", content_type="text/plain")


urlpatterns = [
    path("tasks/enqueue", enqueue),
    path("tasks/enqueue-then-fail", enqueue_then_fail),
    path("tasks/database-hold", database_hold),
]
