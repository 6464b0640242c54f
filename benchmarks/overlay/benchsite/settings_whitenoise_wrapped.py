"""Settings for WhiteNoise wrapping the WSGI app (wsgi_whitenoise.py) instead of running as middleware."""

from benchsite.security_headers import add_security_middleware_headers
from benchsite.settings import *  # noqa: F403

# Static requests never get this far; dynamic ones need not pay for the lookup.
MIDDLEWARE = [name for name in MIDDLEWARE if name != "whitenoise.middleware.WhiteNoiseMiddleware"]  # noqa: F405

WHITENOISE_ADD_HEADERS_FUNCTION = add_security_middleware_headers
