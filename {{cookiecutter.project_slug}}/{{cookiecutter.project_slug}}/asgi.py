"""
ASGI entry point, for ASGI servers: `uvicorn {{ cookiecutter.project_slug }}.asgi:application`.
"""

import os

from django.core.asgi import get_asgi_application

from .checks import require_production_settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{{ cookiecutter.project_slug }}.settings")

# Refuse to serve with settings that are unsafe in production.
require_production_settings()

application = get_asgi_application()
