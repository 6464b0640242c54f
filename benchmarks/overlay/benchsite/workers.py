"""Worker classes to sweep the template's own against, e.g.

    python3 benchmarks/sweep.py --name keepalive-handoff --config "" \
        --config "worker_class='benchsite.workers.HandsBackEveryConnection'"
"""

from gunicorn.workers import gthread

from ${project_slug}.gthread import ThreadWorker


class HandsBackEveryConnection(ThreadWorker):
    """The template's worker without its wait for the next request on a kept-alive connection:
    the connection goes back to gunicorn's main loop after every request, as in stock gthread."""

    handle = gthread.ThreadWorker.handle
