"""
Gunicorn settings for {{ cookiecutter.project_slug }}.

A bare `gunicorn` in this directory reads this file, and so does
`python -m {{ cookiecutter.project_slug }}.serve`, which the Procfile, the Dockerfile and
render.yaml use (serve.py says why). Command-line flags and
GUNICORN_CMD_ARGS still win over anything here. Reference: https://docs.gunicorn.org/en/stable/settings.html
"""

import gc
import os
import sys

from {{ cookiecutter.project_slug }}.connection_budget import close_connections_before_fork, connection_budget
from {{ cookiecutter.project_slug }}.graceful_stop import refuse_new_connections_on_stop
from {{ cookiecutter.project_slug }}.sizing import SizingError, this_instance
from {{ cookiecutter.project_slug }}.watchdog import RequestWatchdog

wsgi_app = "{{ cookiecutter.project_slug }}.wsgi:application"

# Platforms (Heroku, Render, containers) say which port to listen on in $PORT,
# and then traffic comes from outside. Without it, stay on this machine only.
bind = [f"0.0.0.0:{os.environ['PORT']}"] if os.environ.get("PORT") else ["127.0.0.1:8000"]

# Threads let a worker go on serving while other requests wait on the
# database or an HTTP call; `sizing.py` explains the numbers. This is
# gunicorn's gthread worker, made to take a connection only when it has a
# thread free for it, to serve the next request on a kept-alive connection
# without a detour through its main loop, to make fewer system calls per
# request (a small answer leaves in one packet), and to stop listening as
# soon as it stops, so that no connection waits on a stopping server
# (gthread.py).
# Threads, not gevent: gevent served a small JSON view 8-25 % faster, but
# left one request in four waiting over 0.15 s behind others in its worker
# (the template's benchmarks/results/FINDINGS.md, section 17).
worker_class = "{{ cookiecutter.project_slug }}.gthread.ThreadWorker"
try:
    # Workers follow the CPUs this process may really use (a container's
    # quota, not the host's core count), capped by its memory limit and by
    # DATABASE_MAX_CONNECTIONS (each worker needs a database connection).
    # WEB_CONCURRENCY, which Heroku sets, wins over the CPUs and memory.
    # GUNICORN_THREADS overrides the threads per worker. Django's settings
    # size each worker's database pool from the same numbers.
    size = this_instance(os.environ)
except SizingError as error:
    sys.exit(str(error))
workers = size.workers
threads = size.threads

# A thread that computes lets the other threads of its worker have the GIL
# after 10 ms, not Python's 5. With 12 threads most pieces of work between
# two database or HTTP calls then finish without being cut off: on 2 CPUs,
# a third fewer thread switches and 2-4 % less CPU per request on a view
# that computes 5 ms (two sweeps; 20 ms gained no more), the difference
# between trailing the hand-tuned configurations on such a view and
# matching them. The price: a light request may wait up to 10 ms instead of
# 5, at each of its system calls, behind a heavy one computing in its
# worker; with both kinds at once the difference stayed within what two
# identical servers differ by (the template's
# benchmarks/results/FINDINGS.md, section 27). Delete the line to favour
# light requests.
sys.setswitchinterval(0.01)

# Load Django once in the master, then fork: workers share its memory (and
# go on sharing it, see when_ready below) and start in milliseconds, and a
# broken setting stops start-up at once instead of making every worker
# crash in turn.
preload_app = True

# A worker silent this long is killed and replaced, and so is one with a
# request running this long (the watchdog hooks below). Heroku's router
# gives up on a request after 30 s, so waiting longer helps no one.
timeout = 30

# On SIGTERM, in-flight requests get this long to finish. Heroku kills the
# process 30 s after SIGTERM, Render and Docker (by default) sooner or the same.
graceful_timeout = 25

# Keep idle connections from a load balancer open longer than it does
# (Heroku's router: 90 s; AWS ALB: 60 s), so it never reuses a connection
# gunicorn is just closing.
keepalive = 95

# Recycle workers now and then to bound slow memory leaks. Each restart
# costs a worker about a second (measured: recycling every 1,000 requests
# halved throughput), so it is rare; the jitter keeps workers from
# restarting all at once.
max_requests = 100000
max_requests_jitter = 10000

# Access and error logs to stdout/stderr, where platforms collect them.
# One line per request, minus passed health checks and static files, at a
# fraction of gunicorn's own cost per line (access_log.py shows the line).
accesslog = "-"
logger_class = "{{ cookiecutter.project_slug }}.access_log.AccessLogger"

# Only these proxies may say a request came over HTTPS (X-Forwarded-Proto).
# On Heroku and Render the app is reachable only through the platform's
# router, which sets that header itself, so any peer is trusted there.
# Elsewhere set FORWARDED_ALLOW_IPS to your proxy's address; reached
# directly, the app then ignores the header, so a client cannot claim HTTPS.
# (Django's SECURE_PROXY_SSL_HEADER stays unset: gunicorn decides.)
on_routed_platform = "DYNO" in os.environ or "RENDER" in os.environ
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "*" if on_routed_platform else "127.0.0.1,::1")
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}

# The heartbeat file of each worker lives in memory: a disk-backed temp dir
# can stall workers, and a read-only root filesystem has none to write.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# Gunicorn 25+ opens a control socket under $HOME by default. Platforms
# manage the process with signals, and a socket there fails on a read-only
# home and clashes between instances sharing one. Remove this line (and set
# `control_socket`) to use `gunicornc`.
control_socket_disable = True


# Once Django is loaded, before the first fork, the master checks that the
# database pools (sized for `workers`) fit the workers gunicorn will start,
# logs the sizing and the instance's connection arithmetic against the
# PostgreSQL server's limit, and closes any database connection loading the
# app opened: each worker opens its own pool once it runs.
#
# Then the master moves what it has loaded out of the garbage collector's
# reach. Otherwise a worker's first full collection writes to the header
# of each of those objects, and the
# kernel copies every page it writes to: measured, half a worker's memory
# stopped being shared (20 of 40 MiB), and the master with three workers
# took 40-43 MiB more in all, at the same req/s (the template's
# benchmarks/results/FINDINGS.md, section 22). Once only, as when_ready
# runs once: freezing before every fork would also freeze, for good, the
# garbage each reload (SIGHUP) leaves behind.
#
# On a full stop, the master makes the listening socket ignore new
# connections before the workers serve what is queued and close it, so that
# none slips in between and is reset (graceful_stop.py explains).
def when_ready(server):
    require_the_sized_worker_count(server)
    for note in size.notes():
        server.log.warning(note)
    budget = connection_budget(size)
    if budget:
        level, line = budget
        getattr(server.log, level)(line)
    close_connections_before_fork()
    gc.freeze()
    refuse_new_connections_on_stop(server)


def require_the_sized_worker_count(server):
    """Each worker's database pool was sized for `workers`; more of them would hold more than DATABASE_MAX_CONNECTIONS."""
    if server.cfg.workers != workers:
        sys.exit(
            f"gunicorn was told to run {server.cfg.workers} workers (--workers or GUNICORN_CMD_ARGS), but the database "
            f"pools are sized for {workers}: set WEB_CONCURRENCY={server.cfg.workers} instead."
        )


# A gthread worker tells gunicorn it is alive even while one of its request
# threads hangs, so `timeout` alone would never end a view that never
# returns. A watchdog in each worker does (watchdog.py explains how).
def post_worker_init(worker):
    worker.watchdog = RequestWatchdog(worker)
    worker.watchdog.start()


def pre_request(worker, req):
    worker.watchdog.request_started(req)


def post_request(worker, req, environ, resp):
    worker.watchdog.request_finished()
