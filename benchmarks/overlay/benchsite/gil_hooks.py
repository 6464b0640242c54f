"""GIL settings to sweep, as gunicorn hooks given by dotted path, e.g.

    python3 benchmarks/sweep.py --name switch-interval --config "" --config "post_fork='benchsite.gil_hooks.switch_every_5_ms'"

A thread waiting for the GIL asks its holder to let go after the switch
interval, and every waiting thread wakes up that often to ask. The generated
gunicorn.conf.py sets 10 ms in the master; these run in each worker after the
fork, so they override it.
"""

import sys


def switch_every_5_ms(server, worker):
    # Python's default.
    sys.setswitchinterval(0.005)


def switch_every_10_ms(server, worker):
    sys.setswitchinterval(0.01)


def switch_every_20_ms(server, worker):
    sys.setswitchinterval(0.02)
