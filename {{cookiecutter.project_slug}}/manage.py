#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys
from pathlib import Path


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{{ cookiecutter.project_slug }}.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    from {{ cookiecutter.project_slug }}.plumbing.checks import require_production_settings_for
    from {{ cookiecutter.project_slug }}.plumbing.environment import read_local_env_file

    try:
        # Local development's settings: only manage.py reads .env, never the server.
        read_local_env_file(Path(__file__).resolve().parent / ".env")
        # Load the settings first: a missing or malformed environment variable
        # stops every command here with one line naming it, as it stops the server.
        settings.INSTALLED_APPS  # noqa: B018 (reading a setting is what loads them)
        require_production_settings_for(sys.argv)
    except ImproperlyConfigured as problem:
        sys.exit(str(problem))
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
