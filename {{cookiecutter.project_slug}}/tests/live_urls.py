"""The project's URLs and two views that only tests serve: one that logs a line, one that raises."""

import logging
import time

from django.http import HttpResponse
from django.urls import path

from {{ cookiecutter.project_slug }}.urls import urlpatterns as project_urlpatterns

logger = logging.getLogger(__name__)


def log_a_line(request):
    """Logs `?mark=...`, after sleeping `?seconds=...` (so that concurrent requests overlap)."""
    time.sleep(float(request.GET.get("seconds", 0)))
    logger.info("view line %s", request.GET.get("mark", ""))
    return HttpResponse("logged", content_type="text/plain")


def fail(request):
    logger.info("about to fail %s", request.GET.get("mark", ""))
    raise RuntimeError(f"failed on purpose {request.GET.get('mark', '')}")


urlpatterns = [
    *project_urlpatterns,
    path("test/log", log_a_line),
    path("test/fail", fail),
]
