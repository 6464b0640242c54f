"""
Start gunicorn: `python -m {{ cookiecutter.project_slug }}.server [gunicorn options]`.

The Procfile, the Dockerfile and render.yaml start the app this way rather
than with a bare `gunicorn`, for one reason: gunicorn reads WEB_CONCURRENCY
with a plain int() while it is being imported, before gunicorn.conf.py runs,
so a typo there (WEB_CONCURRENCY=two) ends in a traceback that never names
the variable. This checks the sizing variables (WEB_CONCURRENCY,
GUNICORN_THREADS, GUNICORN_WORKER_MEMORY_MB, DATABASE_MAX_CONNECTIONS)
first and stops with one line, then becomes gunicorn itself (same process,
same signals), which reads gunicorn.conf.py as usual. `gunicorn` alone
still works.
"""

import os
import sys

from .sizing import SizingError, this_instance


def main():
    try:
        this_instance(os.environ)
    except SizingError as error:
        sys.exit(str(error))
    os.execv(sys.executable, [sys.executable, "-m", "gunicorn", *sys.argv[1:]])


if __name__ == "__main__":
    main()
