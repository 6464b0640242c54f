"""Start the background-task worker: `python -m {{ cookiecutter.project_slug }}.plumbing.worker [db_worker options]`.

The Procfile, compose.yaml and render.yaml start Django's `db_worker` command
(django-tasks-db) this way, for the connection budget: the command runs one
task at a time, on one database connection, yet settings.py would give it
the connection pool of a web worker, which may open a second connection
while the first is being handed back. Here its pool holds one connection,
whatever DATABASE_MAX_CONNECTIONS says for the web, so the worker takes
exactly the one connection the start-up line counts for it. A malformed
environment variable or an unsafe production setting (no secret key) stops
it with one line naming it, as manage.py does.
"""

import os
import sys

# The worker's whole budget: one task at a time needs one connection.
WORKER_DATABASE_CONNECTIONS = "1"


def main():
    os.environ["DATABASE_MAX_CONNECTIONS"] = WORKER_DATABASE_CONNECTIONS
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{{ cookiecutter.project_slug }}.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    from .checks import require_production_settings

    try:
        settings.INSTALLED_APPS  # noqa: B018 (reading a setting is what loads them)
        require_production_settings()
    except ImproperlyConfigured as problem:
        sys.exit(str(problem))
    execute_from_command_line(["manage.py", "db_worker", *sys.argv[1:]])


if __name__ == "__main__":
    main()
