"""Gunicorn's access log, without the lines nobody reads.

gunicorn.conf.py sets the line (`access_log_format`):

    10.1.2.3 "GET /orders/?page=2 HTTP/1.1" 200 5120B 12ms "Mozilla/5.0 ..."

client address, request line, status, body bytes sent, time taken, user
agent. The client is the one the trusted proxies (FORWARDED_ALLOW_IPS)
name in X-Forwarded-For, not the proxy that connected; a client reaching
the app directly is logged as itself, whatever header it sends
(server/network.py, `client_address`). Gunicorn writes the line; this
logger tells it that client, and leaves two kinds of request out, as they
would bury the rest: health checks that passed (a platform asks every few
seconds) and static files served (a page pulls several; their names are
hashed and browsers keep them for ten years). A failing health check, a
static file that is missing and every other request are logged.

Each line also carries its parts as fields, which the JSON log format
(plumbing/logs.py) writes out one by one: client, method, path, status,
bytes, duration_ms, user_agent; the request's id and the time come with
every line.
"""

from django.conf import settings
from gunicorn.glogging import Logger

from ..health import LIVENESS_PATH, READINESS_PATH
from .network import client_address

HEALTH_CHECK_PATHS = (LIVENESS_PATH, READINESS_PATH)
# 304: a browser asked whether its copy is still good, and it was.
SERVED = (200, 304)


class AccessLogger(Logger):
    def access(self, resp, req, environ, request_time):
        if not is_routine(environ.get("PATH_INFO", ""), status_code(resp)):
            # Gunicorn logs REMOTE_ADDR as the client (%(h)s); the app's own environ is left as it is.
            client = client_address(
                environ.get("REMOTE_ADDR", "-"),
                environ.get("HTTP_X_FORWARDED_FOR", ""),
                self.cfg.forwarded_allow_ips,
            )
            atoms = self.atoms(resp, req, {**environ, "REMOTE_ADDR": client}, request_time)
            query = environ.get("QUERY_STRING")
            fields = {
                "client": client,
                "method": environ.get("REQUEST_METHOD"),
                "path": environ.get("PATH_INFO", "") + (f"?{query}" if query else ""),
                "status": status_code(resp),
                "bytes": resp.sent,
                "duration_ms": round(request_time.total_seconds() * 1000, 1),
                "user_agent": environ.get("HTTP_USER_AGENT"),
            }
            self.access_log.info(self.cfg.access_log_format, self.atoms_wrapper_class(atoms), extra=fields)


def status_code(resp):
    """The response's status as a number; None when gunicorn gives none (its own error replies may not)."""
    code = str(resp.status).partition(" ")[0]  # from "200 OK", 200 (ASGI), or None, which has no number
    return int(code) if code.isdigit() else None


def is_routine(path, status):
    """A passed health check, or a static file served."""
    if path in HEALTH_CHECK_PATHS:
        return status == 200
    return path.startswith(settings.STATIC_URL) and status in SERVED
