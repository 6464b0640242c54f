"""
WSGI entry point, used by gunicorn: `gunicorn {{ cookiecutter.project_slug }}.wsgi:application`
(a bare `gunicorn` reads the same from gunicorn.conf.py).
"""

import os

from django.core.wsgi import get_wsgi_application

from .checks import require_production_settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{{ cookiecutter.project_slug }}.settings")

# Refuse to serve with settings that are unsafe in production.
require_production_settings()

application = get_wsgi_application()
