"""The request shapes the benchmarks load: tiny JSON, CPU-bound (~5 ms, and ~50 ms for mixed.py), I/O-bound,
and a view that holds a PostgreSQL connection for 50 ms, as a page's queries do."""

import os
import time

from django.db import connection
from django.http import JsonResponse

from .cpu import burn_cpu

CPU_LOOPS = int(os.environ["BENCH_CPU_LOOPS"])

# What one database query or upstream HTTP call typically costs.
IO_WAIT_SECONDS = 0.05


def tiny_json(request):
    return JsonResponse({"status": "ok", "items": [1, 2, 3]})


def cpu_bound(request):
    return JsonResponse({"result": burn_cpu(CPU_LOOPS)})


def cpu_bound_long(request):
    # A heavy page: ten times the CPU-bound view, so that it computes past
    # any GIL switch interval worth trying.
    return JsonResponse({"result": burn_cpu(CPU_LOOPS * 10)})


def io_bound(request):
    # sleep() releases the GIL exactly as waiting on a socket does.
    time.sleep(IO_WAIT_SECONDS)
    return JsonResponse({"waited_ms": IO_WAIT_SECONDS * 1000})


def database_bound(request):
    # The server runs the 50 ms: the connection is held, as by a real query.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s)", [IO_WAIT_SECONDS])
    return JsonResponse({"held_ms": IO_WAIT_SECONDS * 1000})
