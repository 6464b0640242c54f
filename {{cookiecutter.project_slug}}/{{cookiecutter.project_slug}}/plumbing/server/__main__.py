"""
Start gunicorn: `python -m {{ cookiecutter.project_slug }}.plumbing.server [gunicorn options]`.

The Procfile, the Dockerfile and render.yaml start the app this way rather
than with a bare `gunicorn`, for one reason: gunicorn reads two variables
itself before gunicorn.conf.py runs, WEB_CONCURRENCY with a plain int()
while it is being imported and FORWARDED_ALLOW_IPS as it sets up, so a typo
in either ends in a traceback or an error that never names the variable.
This checks them and the other variables gunicorn.conf.py reads (the sizing
ones, PORT, GUNICORN_KEEPALIVE, DJANGO_LOG_FORMAT) first and stops with one line, then becomes gunicorn itself
(same process, same signals), which reads gunicorn.conf.py as usual.
`gunicorn` alone still works.
"""

import os
import sys

from django.core.exceptions import ImproperlyConfigured

from ..logs import log_format
from .network import NetworkSettingError, bind_addresses, keepalive_seconds, trusted_proxies
from .sizing import SizingError, this_instance


def main():
    try:
        this_instance(os.environ)
        bind_addresses(os.environ)
        trusted_proxies(os.environ)
        keepalive_seconds(os.environ)
        log_format()
    except (SizingError, NetworkSettingError, ImproperlyConfigured) as error:
        sys.exit(str(error))
    os.execv(sys.executable, [sys.executable, "-m", "gunicorn", *sys.argv[1:]])


if __name__ == "__main__":
    main()
