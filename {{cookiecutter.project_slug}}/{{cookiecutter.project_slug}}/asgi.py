"""
ASGI entry point, for ASGI servers: `uvicorn {{ cookiecutter.project_slug }}.asgi:application`.
"""

import os
import sys

from django.core.asgi import get_asgi_application
from django.core.exceptions import ImproperlyConfigured

from .plumbing.checks import require_production_settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{{ cookiecutter.project_slug }}.settings")

try:
    # Refuse to serve with settings that are unsafe in production.
    require_production_settings()
    application = get_asgi_application()
except ImproperlyConfigured as problem:
    # The message names the variable and what it expects. Raised, it would
    # reach the log under a traceback through the server's import machinery.
    sys.exit(str(problem))
