"""The request shapes the benchmarks load: tiny JSON, CPU-bound (~5 ms, and ~50 ms for mixed.py), I/O-bound."""

import os
import time

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
