"""WhiteNoise wrapping the WSGI app instead of running as Django middleware.

Static requests are answered before Django builds a request object or runs
any middleware. The class reads the same WHITENOISE_* settings, STATIC_ROOT
and staticfiles manifest as WhiteNoiseMiddleware, so hashed files still get
the far-future immutable Cache-Control that plain WhiteNoise(app) would not
give them. Run it with settings_whitenoise_wrapped, which adds the headers
SecurityMiddleware would have added.
"""

from django.core.wsgi import get_wsgi_application
from whitenoise.base import WhiteNoise
from whitenoise.middleware import WhiteNoiseMiddleware


class WhiteNoiseFromDjangoSettings(WhiteNoiseMiddleware):
    def __init__(self, application):
        super().__init__()
        self.application = application

    # Answer at the WSGI layer, as plain WhiteNoise does.
    __call__ = WhiteNoise.__call__
    serve = staticmethod(WhiteNoise.serve)


application = WhiteNoiseFromDjangoSettings(get_wsgi_application())
