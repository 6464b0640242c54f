"""A fixed amount of pure-Python work, calibrated by the harness to about 5 ms."""

import time


def burn_cpu(loops: int) -> int:
    # Plain bytecode arithmetic holds the GIL throughout, like template
    # rendering or serialising a big queryset does in a real view.
    total = 0
    for i in range(loops):
        total += i * i % 7
    return total


def loops_for(target_seconds: float, probe_loops: int = 200_000, attempts: int = 7) -> int:
    """How many loops take `target_seconds` here (the fastest of a few timings, as the host is noisy)."""
    fastest = float("inf")
    for _ in range(attempts):
        started = time.perf_counter()
        burn_cpu(probe_loops)
        fastest = min(fastest, time.perf_counter() - started)
    return max(1, round(probe_loops * target_seconds / fastest))
