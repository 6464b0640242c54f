"""
WSGI entry point, used by gunicorn: `gunicorn {{ cookiecutter.project_slug }}.wsgi:application`
(a bare `gunicorn` reads the same from gunicorn.conf.py).
"""

import os
import sys

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

from .plumbing.checks import require_production_settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{{ cookiecutter.project_slug }}.settings")

try:
    # Refuse to serve with settings that are unsafe in production.
    require_production_settings()
    application = get_wsgi_application()
except ImproperlyConfigured as problem:
    # The message names the variable and what it expects. Raised, it would
    # reach the log under a traceback through the server's import machinery.
    sys.exit(str(problem))
