"""The example task's work, done inside the request or enqueued for the worker (benchmarks/tasks.py).

Each request mails one note with a subject of its own, so that the benchmark can tell whether every
enqueued task was sent exactly once.
"""

import uuid
from functools import partial

from django.conf import settings
from django.db import transaction
from django.http import JsonResponse
from django.urls import include, path

from ${project_slug}.tasks import send_note


def note():
    return "someone@example.com", uuid.uuid4().hex, "A note from the benchmark of background tasks."


def send_inline(request):
    return JsonResponse({"sent": send_note.call(*note())})


def send_queued(request):
    # As the project's tasks.py says: enqueue once the request's transaction commits.
    transaction.on_commit(partial(send_note.enqueue, *note()))
    return JsonResponse({"enqueued": 1})


urlpatterns = [
    path("bench/tasks/inline", send_inline),
    path("bench/tasks/queued", send_queued),
    path("", include(settings.BENCH_PROJECT_URLCONF)),
]
