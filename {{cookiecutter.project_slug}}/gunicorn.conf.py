"""
Gunicorn settings for {{ cookiecutter.project_slug }}.

A bare `gunicorn` in this directory reads this file, and so does
`python -m {{ cookiecutter.project_slug }}.plumbing.server`, the start command of the Procfile, the
Dockerfile and render.yaml ({{ cookiecutter.project_slug }}/plumbing/server/__main__.py says why).
Command-line flags and GUNICORN_CMD_ARGS still win over anything here.
Every setting below is one of gunicorn's documented settings or server
hooks: https://docs.gunicorn.org/en/stable/settings.html
"""

import gc
import os
import sys

from django.core.exceptions import ImproperlyConfigured

from {{ cookiecutter.project_slug }}.plumbing.logs import logging_config
from {{ cookiecutter.project_slug }}.plumbing.server import gunicorn_internals
from {{ cookiecutter.project_slug }}.plumbing.server.connection_budget import close_connections_before_fork, connection_budget
from {{ cookiecutter.project_slug }}.plumbing.server.network import (
    NetworkSettingError,
    bind_addresses,
    keepalive_seconds,
    trusted_proxies,
)
from {{ cookiecutter.project_slug }}.plumbing.server.sizing import SizingError, this_instance
from {{ cookiecutter.project_slug }}.plumbing.server.watchdog import RequestWatchdog

# The project's application ({{ cookiecutter.project_slug }}/wsgi.py), with the request
# watchdog's clock and the untrusted-proxy warning around it (plumbing/server/wsgi_wrapper.py).
wsgi_app = "{{ cookiecutter.project_slug }}.plumbing.server.wsgi:application"

try:
    # Platforms (Heroku, Render, containers) say which port to listen on in
    # $PORT, and then traffic comes from outside, over IPv4 and IPv6 where
    # the host has it: [::]:$PORT. Without it, stay on this machine only:
    # 127.0.0.1:8000.
    bind = bind_addresses(os.environ)
    # Only these proxies may say a request came over HTTPS (X-Forwarded-Proto).
    # On Heroku and Render the app is reachable only through the platform's
    # router, which sets that header itself, so any peer is trusted there.
    # Elsewhere set FORWARDED_ALLOW_IPS to your proxy's address; reached
    # directly, the app then ignores the header, so a client cannot claim HTTPS.
    # (Django's SECURE_PROXY_SSL_HEADER stays unset: gunicorn decides.)
    forwarded_allow_ips = trusted_proxies(os.environ)
    # A router (Heroku's, Render's, a cloud load balancer, an ingress) keeps
    # its connections to the app open between requests. Keeping them at least
    # as long as it does (95 s; Heroku's router closes them after 90 s idle)
    # saves a new connection per request and leaves the closing to the
    # router, so no request is sent down a connection being closed.
    # GUNICORN_KEEPALIVE sets it for a router that waits longer.
    keepalive = keepalive_seconds(os.environ)
except NetworkSettingError as error:
    sys.exit(str(error))
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}

try:
    # Workers follow the CPUs this process may really use (a container's
    # quota, not the host's core count), capped by its memory limit and by
    # DATABASE_MAX_CONNECTIONS (each worker needs a database connection).
    # WEB_CONCURRENCY, which Heroku sets, wins over the CPUs and memory;
    # GUNICORN_THREADS sets the threads per worker. Django's settings size
    # each worker's database pool from the same numbers (plumbing/server/sizing.py).
    size = this_instance(os.environ)
except SizingError as error:
    sys.exit(str(error))
workers = size.workers

# Threads let a worker go on serving while other requests wait on the
# database or an HTTP call (48 by default; plumbing/server/sizing.py says why).
worker_class = "gthread"
threads = size.threads

# Each worker may hold this many connections, busy or idle: room for the
# connections a router keeps open. A worker takes every connection that
# comes, so that no request is left unread in the listening queue while the
# router sends more down the connections it already has; a request waits in
# its worker's queue, first come, first served, for a free thread.
worker_connections = 1000

# A thread that computes lets the other threads of its worker have the GIL
# after 10 ms, not Python's 5: with many threads, most pieces of work
# between two database or HTTP calls then finish without being cut off
# (fewer thread switches, a little less CPU per request). The price: a light request may wait up to
# 10 ms instead of 5 behind a heavy one in its worker. Delete the line to
# favour light requests.
sys.setswitchinterval(0.01)

# Load Django once in the master, then fork: workers share its memory (and
# go on sharing it, see when_ready below) and start in milliseconds, and a
# broken setting stops start-up at once instead of making every worker
# crash in turn.
preload_app = True

# A worker silent this long is killed and replaced, and so is one whose
# application has worked on a request this long (the watchdog hooks below;
# sending the response to a slow client does not count). Heroku's router
# gives up on a request after 30 s, so waiting longer helps no one.
timeout = 30

# On SIGTERM, in-flight requests get this long to finish. Heroku kills the
# process 30 s after SIGTERM, Render sooner or the same; Docker after 10 s
# unless told otherwise (compose.yaml's stop_grace_period, the README's
# `docker run --stop-timeout`).
graceful_timeout = 25

# Recycle workers now and then to bound slow memory leaks. Each restart
# costs a worker about a second, so it is rare; the jitter keeps workers
# from restarting all at once.
max_requests = 100000
max_requests_jitter = 10000

try:
    # Gunicorn's own lines and its access log in the format of Django's, all to
    # stdout: JSON in production, text with DJANGO_DEBUG on, or as
    # DJANGO_LOG_FORMAT says; each with the id of the request it is about
    # (plumbing/logs.py).
    logconfig_dict = logging_config()
except ImproperlyConfigured as error:
    sys.exit(str(error))

# The access log, one line per request: client, request line, status, bytes
# sent, time taken, user agent (and, as on every line, the time and the
# request's id). The client is the address the trusted proxies (above) name
# in X-Forwarded-For, not the proxy itself; passed health checks and served
# static files are left out (plumbing/server/access_log.py), with the gunicorn
# releases plumbing/server/gunicorn_internals.py was tested with; with others,
# gunicorn's own logger logs every request, under the address that connected.
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(B)sB %(M)sms "%(a)s"'
gunicorn_internals_problem = gunicorn_internals.unsupported()
if gunicorn_internals_problem is None:
    logger_class = "{{ cookiecutter.project_slug }}.plumbing.server.access_log.AccessLogger"

# The heartbeat file of each worker lives in memory: a disk-backed temp dir
# can stall workers, and a read-only root filesystem has none to write.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# Gunicorn 25+ opens a control socket under $HOME by default. Platforms
# manage the process with signals, and a socket there fails on a read-only
# home and clashes between instances sharing one. Remove this line (and set
# `control_socket`) to use `gunicornc`.
control_socket_disable = True


def when_ready(server):
    """Once Django is loaded, in the master, before the first worker starts."""
    # Each worker's database pool was sized for `workers`: more workers
    # would hold more than DATABASE_MAX_CONNECTIONS.
    if server.cfg.workers != workers:
        sys.exit(
            f"gunicorn was told to run {server.cfg.workers} workers (--workers or GUNICORN_CMD_ARGS), but the database "
            f"pools are sized for {workers}: set WEB_CONCURRENCY={server.cfg.workers} instead."
        )
    for note in size.notes():
        server.log.warning(note)
    # workers x connections per worker, against the PostgreSQL server's limit.
    budget = connection_budget(size)
    if budget:
        level, line = budget
        getattr(server.log, level)(line)
    # Each worker opens its own database pool; nothing the master opened while
    # loading the app may reach them.
    close_connections_before_fork()
    # Move what the master has loaded out of the garbage collector's reach.
    # Otherwise a worker's first full collection writes to the header of each
    # of those objects, and the kernel copies every page it writes to, so
    # much of a worker's memory would stop being shared. Once only: freezing
    # before every fork would also freeze, for good, what each reload (SIGHUP)
    # leaves.
    gc.freeze()
    # On a full stop, make the listening socket ignore new connections before
    # the workers stop, so that none is accepted by the kernel and then reset
    # (plumbing/server/gunicorn_internals.py explains), if this gunicorn was tested.
    problem = gunicorn_internals_problem or gunicorn_internals.unsupported(server)
    if problem:
        server.log.warning(f"{problem}: using gunicorn's own access log and stop instead of this project's.")
    else:
        gunicorn_internals.refuse_new_connections_on_stop(server)


# A gthread worker tells gunicorn it is alive even while one of its request
# threads hangs, so `timeout` alone would never end a view that never
# returns. A watchdog in each worker does (plumbing/server/watchdog.py explains how;
# `wsgi_app` above tells it when a request is only being sent).
def post_worker_init(worker):
    worker.watchdog = RequestWatchdog(worker)
    worker.watchdog.start()


def pre_request(worker, req):
    worker.watchdog.request_started(req)


def post_request(worker, req, environ, resp):
    worker.watchdog.request_finished()
