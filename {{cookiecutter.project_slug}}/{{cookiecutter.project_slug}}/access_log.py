"""
Gunicorn's access log, at a fraction of its cost, without the lines nobody reads.

One line per request, to stdout:

    10.1.2.3 "GET /orders/?page=2 HTTP/1.1" 200 5120B 12ms "Mozilla/5.0 ..."

client address, request line, status, body bytes sent, time taken, user agent.

Gunicorn's own logger builds a dict of every request header, response
header and WSGI variable and a timestamp for each line, whatever the format
uses, then passes it through Python's logging, whose lock all the threads
of a worker queue on. Measured under load (the template's benchmarks/),
that cost a small JSON view about 15 % of its throughput. This logger
builds the line from the few values in it and, when the access log goes to
stdout (`accesslog = "-"` and no other logging set up for it), writes it
there with one system call, which costs nothing measurable. Any other
destination (a file, syslog, `logconfig_dict`) goes through logging as
usual, and a custom `access_log_format` is formatted by gunicorn's code.

Two kinds of request are left out, as they would bury the rest: health
checks that passed (a platform asks every few seconds) and static files
served by WhiteNoise (a page pulls several; their names are hashed and
browsers keep them for a year). A failing health check, a static file that
is missing and every other request are logged.
"""

import logging
import os
import sys

from gunicorn.glogging import Logger

from .health import LIVENESS_PATH, READINESS_PATH
from .static_files import SERVED_STATIC_FILE

HEALTH_CHECK_PATHS = (LIVENESS_PATH, READINESS_PATH)


class AccessLogger(Logger):
    def setup(self, cfg):
        super().setup(cfg)
        self.stdout_fd = stdout_fd_if_only_destination(self.access_log)
        self.custom_format = cfg.access_log_format != cfg.settings["access_log_format"].default

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled or is_routine(environ, resp.status_code):
            return
        if self.custom_format:
            super().access(resp, req, environ, request_time)
            return
        # Quotes are escaped as gunicorn does, so a user agent cannot forge a field.
        request_line = f"{environ['REQUEST_METHOD']} {environ['RAW_URI']} {environ['SERVER_PROTOCOL']}".replace('"', '\\"')
        user_agent = environ.get("HTTP_USER_AGENT", "-").replace('"', '\\"')
        milliseconds = request_time.seconds * 1000 + request_time.microseconds // 1000
        line = f'{environ.get("REMOTE_ADDR", "-")} "{request_line}" {resp.status_code} {resp.sent}B {milliseconds}ms "{user_agent}"'
        if self.stdout_fd is None:
            self.access_log.info(line)
        else:
            self.write_to_stdout(line)

    def write_to_stdout(self, line):
        # One write() of up to 4 KiB to a pipe is atomic: lines from threads
        # and workers do not mix, and there is nothing to lock.
        data = f"{line}\n".encode()
        try:
            while data:
                data = data[os.write(self.stdout_fd, data):]
        except OSError:
            self.access_log.info(line)  # logging reports the failure its own way


def stdout_fd_if_only_destination(access_log):
    """stdout's file descriptor, if gunicorn's handler for it is all the access log has."""
    handlers = access_log.handlers
    if len(handlers) != 1 or type(handlers[0]) is not logging.StreamHandler or handlers[0].stream is not sys.stdout:
        return None
    if access_log.filters or access_log.propagate:
        return None
    try:
        return sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # stdout replaced by something that is no file
        return None


def is_routine(environ, status_code):
    """A passed health check, or a static file WhiteNoise served (200, or 304 to a browser that has it)."""
    if status_code is None or status_code >= 400:
        return False
    return environ.get(SERVED_STATIC_FILE, False) or (environ.get("PATH_INFO") in HEALTH_CHECK_PATHS and status_code == 200)
