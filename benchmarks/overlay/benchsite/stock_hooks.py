"""Gunicorn's own do-nothing hooks, to sweep the template's conf without its hooks, e.g.

    python3 benchmarks/sweep.py --name no-hooks --config "" --config "post_worker_init='benchsite.stock_hooks.post_worker_init' \
        pre_request='benchsite.stock_hooks.pre_request' post_request='benchsite.stock_hooks.post_request'"

(gunicorn imports a hook given as a dotted path; the template's request
watchdog then never starts, and with `when_ready` the master neither
freezes its objects before forking nor changes how it stops.)
"""


def when_ready(server):
    pass


def post_worker_init(worker):
    pass


def pre_request(worker, req):
    pass


def post_request(worker, req, environ, resp):
    pass
