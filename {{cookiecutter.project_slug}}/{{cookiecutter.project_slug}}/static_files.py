"""
Serve static files over HTTPS before Django runs.

WhiteNoise's middleware (settings.MIDDLEWARE) answers a static file from
inside Django: each request first gets a Django request object, the
request_started signal, SecurityMiddleware and the rest of the stack around
it. Wrapped around the WSGI application instead (wsgi.py does it), the same
WhiteNoise answers before any of that: measured in benchmarks/ of the
template, about 1.6 times the requests per second for a 100 KB stylesheet.

The files, their settings (STATIC_ROOT, the WHITENOISE_* settings, the
manifest that gives hashed names a cache header of a year) and their
headers stay the same: the headers SecurityMiddleware adds to a static
file over HTTPS (HSTS, nosniff, Referrer-Policy, Cross-Origin-Opener-Policy)
are asked of SecurityMiddleware itself, once, at start-up, and added here.

Only HTTPS requests are answered here. Over plain HTTP, Django runs as
before: SecurityMiddleware redirects to HTTPS, or, with the redirect off
(local development), the middleware serves the file with plain-HTTP headers.
"""

import io
from wsgiref.util import FileWrapper

from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpResponse
from django.middleware.security import SecurityMiddleware
from whitenoise.base import WhiteNoise
from whitenoise.middleware import WhiteNoiseMiddleware

# Set in the WSGI environ of a request answered here, so that what looks at
# the request afterwards (the access log, tests) can tell.
SERVED_STATIC_FILE = "{{ cookiecutter.project_slug }}.served_static_file"

# Files up to this size are read and handed to gunicorn whole; larger ones
# go out with sendfile(), as WhiteNoise hands them. For a small file,
# gunicorn's sendfile() path (seek, stat, stat, sendfile, seek) costs more
# than the copy it saves: each system call lets another of the worker's
# threads take the GIL, and the thread must then wait to get it back.
READ_WHOLE_MAX_BYTES = 256 * 1024


class StaticFilesOverHTTPS(WhiteNoiseMiddleware):
    """WhiteNoise as WSGI middleware, configured from Django's settings as WhiteNoiseMiddleware is."""

    def __init__(self, application):
        super().__init__()
        self.application = application
        self.security_headers = security_middleware_headers()

    def __call__(self, environ, start_response):
        if environ["wsgi.url_scheme"] != "https":
            return self.application(environ, start_response)
        return WhiteNoise.__call__(self, environ, start_response)

    def serve(self, static_file, environ, start_response):
        environ[SERVED_STATIC_FILE] = True
        response = static_file.get_response(environ["REQUEST_METHOD"], environ)
        headers = list(response.headers)
        # On every answer (200, 206, 304, 405...), as SecurityMiddleware
        # does: each header it would add, unless the answer has it already.
        present = {name.lower() for name, _ in headers}
        headers += [(name, value) for name, value in self.security_headers if name.lower() not in present]
        start_response(f"{response.status} {response.status.phrase}", headers)
        if response.file is None:  # HEAD, 304, 405
            return []
        if content_length(headers) <= READ_WHOLE_MAX_BYTES:
            with response.file:
                return [response.file.read()]
        return environ.get("wsgi.file_wrapper", FileWrapper)(response.file)


def content_length(headers):
    return next((int(value) for name, value in headers if name.lower() == "content-length"), float("inf"))


def security_middleware_headers():
    """The headers SecurityMiddleware adds to an HTTPS response, as the SECURE_* settings say."""
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": "/", "SERVER_NAME": "localhost", "SERVER_PORT": "443",
        "wsgi.url_scheme": "https", "wsgi.input": io.BytesIO(),
    }
    response = SecurityMiddleware(lambda request: HttpResponse())(WSGIRequest(environ))
    return [(name, value) for name, value in response.items() if name.lower() != "content-type"]
