"""The three request shapes the benchmark loads: tiny JSON, CPU-bound, I/O-bound."""

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


def io_bound(request):
    # sleep() releases the GIL exactly as waiting on a socket does.
    time.sleep(IO_WAIT_SECONDS)
    return JsonResponse({"waited_ms": IO_WAIT_SECONDS * 1000})
