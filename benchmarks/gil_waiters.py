#!/usr/bin/env python3
"""What does computing in many threads at once cost, when workers share the CPUs? (FINDINGS.md, sections 16 and 19)

    python3 benchmarks/gil_waiters.py [--processes N]

As the template's workers do on the CPU-bound view, CPUs + 1 processes run
threads that compute 5 ms chunks of fixed work (the view's own loop) for 3 s.
Four shapes run in turn, 8 times over (about 2 minutes): one thread per
process, as a sync worker; and 11 threads per process with 1, 2 or all 11 of
them allowed to compute at once, the others waiting on a lock without asking
for the GIL. It prints, for each shape, the chunks computed per second by all
processes together, the CPU time per chunk, and, turn by turn, the shape's
chunks per second over those of one thread per process.
"""

import argparse
import multiprocessing
import os
import statistics
import threading
import time

from overlay.benchsite.cpu import burn_cpu, loops_for
from project import CPU_VIEW_SECONDS

THREADS = 11
# (threads per process, how many of them compute at once); the first is a sync worker's shape.
SHAPES = ((1, 1), (THREADS, 1), (THREADS, 2), (THREADS, THREADS))
TURNS = 8
SECONDS_PER_RUN = 3.0


def compute_in_threads(threads: int, limit: int, loops: int, start_at: float, results: multiprocessing.Queue) -> None:
    """One worker process: `threads` threads compute from start_at for SECONDS_PER_RUN, `limit` at once."""
    turns = threading.Semaphore(limit)
    started = threading.Event()
    stop_at = start_at + SECONDS_PER_RUN
    in_time = []

    def compute():
        started.wait()
        while True:
            with turns:
                if time.monotonic() >= stop_at:
                    return
                burn_cpu(loops)
            in_time.append(time.monotonic() <= stop_at)

    computing = [threading.Thread(target=compute) for _ in range(threads)]
    for thread in computing:
        thread.start()
    time.sleep(max(0.0, start_at - time.monotonic()))
    cpu_before = time.process_time()
    started.set()
    for thread in computing:
        thread.join()
    results.put((sum(in_time), len(in_time), time.process_time() - cpu_before))


def run_processes(processes: int, shape: tuple[int, int], loops: int) -> tuple[float, float]:
    """(chunks per second over all processes, CPU seconds per chunk)."""
    results = multiprocessing.Queue()
    start_at = time.monotonic() + 0.2
    workers = [multiprocessing.Process(target=compute_in_threads, args=(*shape, loops, start_at, results)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    counts = [results.get() for _ in workers]
    for worker in workers:
        worker.join()
    chunks_in_time = sum(count[0] for count in counts)
    chunks = sum(count[1] for count in counts)
    cpu_seconds = sum(count[2] for count in counts)
    return chunks_in_time / SECONDS_PER_RUN, cpu_seconds / chunks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, default=(os.cpu_count() or 1) + 1, help="worker processes (default: CPUs + 1, as the template)")
    args = parser.parse_args()
    loops = loops_for(CPU_VIEW_SECONDS)
    runs = {shape: [] for shape in SHAPES}
    for _ in range(TURNS):
        for shape in SHAPES:
            runs[shape].append(run_processes(args.processes, shape, loops))
    print(f"{args.processes} processes, medians of {TURNS} turns:")
    sync_rates = [rate for rate, _ in runs[SHAPES[0]]]
    for shape in SHAPES:
        rates = [rate for rate, _ in runs[shape]]
        cpu_per_chunk = [cpu for _, cpu in runs[shape]]
        line = f"{shape[0]:2} threads, {shape[1]:2} at once: {statistics.median(rates):6.1f} chunks/s, {statistics.median(cpu_per_chunk) * 1e6:6.0f} µs CPU per chunk"
        if shape != SHAPES[0]:
            ratios = sorted(mine / sync for mine, sync in zip(rates, sync_rates))
            ahead = sum(ratio > 1 for ratio in ratios)
            line += f"; over 1 thread, turn by turn: median {statistics.median(ratios):.2f} ({ratios[0]:.2f} to {ratios[-1]:.2f}, ahead in {ahead} of {TURNS})"
        print(line)


if __name__ == "__main__":
    main()
