"""Scheduler settings to sweep, as gunicorn hooks given by dotted path, e.g.

    python3 benchmarks/sweep.py --name sched-batch --config "" --config "post_fork='benchsite.sched_hooks.batch'"
"""

import os


def batch(server, worker):
    # SCHED_BATCH: a thread of this worker that wakes up (for the GIL, or with
    # a request) does not preempt a running thread, here or in another
    # process. The request threads, started later, inherit it.
    os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
