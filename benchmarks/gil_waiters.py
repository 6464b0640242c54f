#!/usr/bin/env python3
"""Does a thread waiting for the GIL slow down the one computing? (FINDINGS.md, section 16)

    python3 benchmarks/gil_waiters.py

In one process, 11 threads compute 5 ms chunks of fixed work (the CPU-bound
view's loop) for half a second, with 1, 2 or all of them allowed to compute at
once; the others wait on a lock, without asking for the GIL. The three run in
turn, 15 times over, and it prints the CPU time per chunk for each, and each
limit's CPU per chunk over the unlimited run's in the same turn.
"""

import statistics
import threading
import time

from overlay.benchsite.cpu import burn_cpu, loops_for
from project import CPU_VIEW_SECONDS

THREADS = 11
LIMITS = (1, 2, THREADS)
TURNS = 15
SECONDS_PER_RUN = 0.5


def cpu_seconds_per_chunk(limit: int, loops: int) -> float:
    turns = threading.Semaphore(limit)
    stop = threading.Event()
    chunks = []

    def compute():
        while not stop.is_set():
            with turns:
                burn_cpu(loops)
            chunks.append(1)

    threads = [threading.Thread(target=compute) for _ in range(THREADS)]
    cpu_before = time.process_time()
    for thread in threads:
        thread.start()
    time.sleep(SECONDS_PER_RUN)
    stop.set()
    for thread in threads:
        thread.join()
    return (time.process_time() - cpu_before) / len(chunks)


def main() -> None:
    loops = loops_for(CPU_VIEW_SECONDS)
    runs = {limit: [] for limit in LIMITS}
    for _ in range(TURNS):
        for limit in LIMITS:
            runs[limit].append(cpu_seconds_per_chunk(limit, loops))
    for limit in LIMITS:
        line = f"{limit:2} at once: {statistics.median(runs[limit]) * 1e6:6.0f} µs CPU per chunk (median of {TURNS})"
        if limit != THREADS:
            ratios = sorted(mine / unlimited for mine, unlimited in zip(runs[limit], runs[THREADS]))
            line += f"; over {THREADS} at once, turn by turn: median {statistics.median(ratios):.2f}, from {ratios[0]:.2f} to {ratios[-1]:.2f}"
        print(line)


if __name__ == "__main__":
    main()
