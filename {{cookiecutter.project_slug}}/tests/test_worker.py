import os
import subprocess
import sys
from pathlib import Path

import django.core.management

from {{ cookiecutter.project_slug }}.plumbing import worker

PROJECT_DIR = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "a-strong-random-production-secret-key-" + "x1y2z3" * 5,
    "DJANGO_ALLOWED_HOSTS": "example.com",
}
SHOW_THE_POOL = (
    "import django.core.management, sys\n"
    "from django.conf import settings\n"
    "from {{ cookiecutter.project_slug }}.plumbing import worker\n"
    "django.core.management.execute_from_command_line = lambda argv: print("
    "settings.DATABASES['default']['OPTIONS']['pool']['max_size'], argv)\n"
    "worker.main()\n"
)


def run_worker_start(code, **environ):
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_DIR,
        env={**env, **environ},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_worker_runs_db_worker_with_the_options_it_was_given_on_one_connection(monkeypatch):
    ran = []
    monkeypatch.setattr(django.core.management, "execute_from_command_line", ran.append)
    monkeypatch.setattr(sys, "argv", ["worker", "--queue-name", "mail"])
    monkeypatch.setenv("DATABASE_MAX_CONNECTIONS", "12")

    worker.main()

    assert ran == [["manage.py", "db_worker", "--queue-name", "mail"]]
    assert os.environ["DATABASE_MAX_CONNECTIONS"] == "1"


def test_the_worker_holds_one_database_connection_whatever_the_web_is_given():
    result = run_worker_start(
        SHOW_THE_POOL,
        **PRODUCTION,
        DATABASE_URL="postgres://app:secret@db.invalid:5432/app",
        DATABASE_MAX_CONNECTIONS="12",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == "1 ['manage.py', 'db_worker']\n"


def test_a_malformed_variable_stops_the_worker_with_one_line_naming_it():
    result = run_worker_start(SHOW_THE_POOL, **PRODUCTION, WEB_CONCURRENCY="three")

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == "WEB_CONCURRENCY must be a positive whole number of worker processes, got 'three'\n"


def test_an_unsafe_production_setting_stops_the_worker_with_one_line():
    result = run_worker_start(SHOW_THE_POOL, **{**PRODUCTION, "DJANGO_SECRET_KEY": ""})

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("DJANGO_SECRET_KEY is not set;") and len(result.stderr.splitlines()) == 1
