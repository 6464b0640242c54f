"""GIL settings to sweep, as gunicorn hooks given by dotted path, e.g.

    python3 benchmarks/sweep.py --name switch-interval-python313 --config "" --config "post_fork='benchsite.gil_hooks.switch_every_20_ms'"
"""

import sys


def switch_every_20_ms(server, worker):
    # A thread waiting for the GIL asks its holder to let go after this long
    # (5 ms by default), and every waiting thread wakes up this often to ask.
    sys.setswitchinterval(0.02)
