"""Settings with WhiteNoise as Django middleware (directly after SecurityMiddleware, as its docs say).

The template may serve static files some other way; this is the common
setup the issue compares against.
"""

from benchsite.settings import *  # noqa: F403

WHITENOISE_MIDDLEWARE = "whitenoise.middleware.WhiteNoiseMiddleware"
SECURITY_MIDDLEWARE = "django.middleware.security.SecurityMiddleware"

MIDDLEWARE = [name for name in MIDDLEWARE if name != WHITENOISE_MIDDLEWARE]  # noqa: F405
MIDDLEWARE.insert(MIDDLEWARE.index(SECURITY_MIDDLEWARE) + 1, WHITENOISE_MIDDLEWARE)
