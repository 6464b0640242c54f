"""Production's database for real: migrations, the generated tests and the
readiness check against a PostgreSQL server through DATABASE_URL."""

import pytest
from support.network import http_get
from support.project import generated_suite, procfile_command, production_env, run, running_server

pytestmark = pytest.mark.slow


def test_migrations_and_the_generated_tests_run_on_postgresql(default_project, project_python, postgres_url):
    env = production_env(project_python, DATABASE_URL=postgres_url)

    migrate = run([str(project_python), "manage.py", "migrate", "--noinput"], default_project, env)
    engine = run(
        [str(project_python), "manage.py", "shell", "-c", "from django.db import connection; print(connection.vendor)"],
        default_project,
        env,
    )
    generated_suite(project_python, default_project, env)

    assert "Applying auth.0001_initial... OK" in migrate.stdout
    assert engine.stdout.strip().splitlines()[-1] == "postgresql"


def test_the_release_command_migrates_and_readiness_sees_postgresql(built_project, project_python, postgres_url, tmp_path):
    env = production_env(project_python, DATABASE_URL=postgres_url)
    run(procfile_command(built_project, "release"), built_project, env)

    with running_server(procfile_command(built_project, "web"), built_project, env, tmp_path / "gunicorn.log") as server:
        status, _, body = http_get(server.port, "/readyz")

    assert (status, body) == (200, b"ok")
