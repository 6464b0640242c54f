"""The headers Django's SecurityMiddleware adds, for static files served before Django runs.

With WhiteNoise as middleware right after SecurityMiddleware, static
responses pass back through SecurityMiddleware and get X-Content-Type-Options,
Referrer-Policy, Cross-Origin-Opener-Policy and, over HTTPS,
Strict-Transport-Security. WhiteNoise wrapping the WSGI app answers before
any middleware, so it must add them itself to send identical headers.
WhiteNoise computes a file's headers once at start-up, not per request, so
HSTS is sent over plain HTTP too; browsers ignore it there (RFC 6797 §8.1).
"""

import functools
import io

from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpResponse
from django.middleware.security import SecurityMiddleware


@functools.cache
def security_middleware_headers() -> dict:
    """Asks SecurityMiddleware itself, on a synthetic HTTPS request, so the headers follow the SECURE_* settings."""
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": "/", "SERVER_NAME": "localhost", "SERVER_PORT": "443",
        "wsgi.url_scheme": "https", "wsgi.input": io.BytesIO(),
    }
    response = SecurityMiddleware(lambda request: HttpResponse())(WSGIRequest(environ))
    return {name: value for name, value in response.items() if name.lower() != "content-type"}


def add_security_middleware_headers(headers, path, url):
    """A WHITENOISE_ADD_HEADERS_FUNCTION."""
    for name, value in security_middleware_headers().items():
        headers[name] = value
