"""The generated README's own commands, word for word, in a fresh copy of a
baked project as its team clones it: run it locally with uv, run it as
production does, run its tests."""

import os
import re
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import TEST_PYTHON_VERSION
from support.deploy import python_of_version, readme_commands
from support.network import http_get, wait_for_http_200
from support.project import UV, environment_without_project_variables, judged_suite_output

pytestmark = pytest.mark.slow

# Where runserver and the production start command listen with no PORT set.
LOCAL_PORT = 8000


@pytest.fixture(scope="module")
def clone(default_project, tmp_path_factory):
    """The project as generated (with its .env), without anything running it made, and uv on the PATH."""
    project = tmp_path_factory.mktemp("readme") / default_project.name
    shutil.copytree(default_project, project, ignore=shutil.ignore_patterns(".venv", "staticfiles", "db.sqlite3", "__pycache__"))
    env = environment_without_project_variables()
    env.update(PATH=f"{Path(UV).parent}{os.pathsep}{env['PATH']}", UV_PYTHON=python_of_version(TEST_PYTHON_VERSION), UV_PYTHON_DOWNLOADS="never")
    return project, env


def shell(command, project, env):
    result = subprocess.run(["bash", "-c", command], cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{command!r}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def serving(command, project, env):
    """Start a long-running README command, wait for it to answer on LOCAL_PORT, then stop it."""
    process = subprocess.Popen(["bash", "-c", command], cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        wait_for_http_200(LOCAL_PORT, "/healthz", timeout=60, process=process)
        return http_get(LOCAL_PORT, "/", {"X-Forwarded-Proto": "https"})
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=40)


def readme_text(project):
    return " ".join((project / "README.md").read_text().split())


def test_run_it_locally_syncs_with_uv_then_migrates_and_serves_with_runserver(clone):
    project, env = clone
    sync, run_line = readme_commands(project, "Run it")

    assert sync == "uv sync"
    shell(sync, project, env)
    migrate, runserver = run_line.split(" && ")
    shell(migrate, project, env)
    status, _, page = serving(runserver, project, env)

    assert status == 200 and b"<html" in page
    assert (project / ".venv" / "bin" / "pytest").exists()  # the dev group came with it


def test_run_it_as_production_does(clone):
    project, env = clone
    collectstatic, start = readme_commands(project, "Running it, in detail")

    shell(collectstatic, project, env)
    status, headers, _ = serving(start, project, env)

    assert start.startswith("DJANGO_DEBUG=false ") and shlex.split(start)[-1] == f"{project.name}.plumbing.server"
    assert status == 200 and "strict-transport-security" in headers


def test_a_bare_gunicorn_serves_the_same_app_with_the_same_settings_as_the_start_command(clone):
    project, env = clone
    collectstatic, start = readme_commands(project, "Running it, in detail")
    bare = start.replace(f"python -m {project.name}.plumbing.server", "gunicorn")
    assert "uv run gunicorn" in readme_text(project)

    shell(collectstatic, project, env)
    status, headers, _ = serving(bare, project, env)
    settings_of = {command: shell(f"{command} --print-config", project, env).stdout for command in (start, bare)}

    assert status == 200 and "strict-transport-security" in headers
    assert settings_of[bare] == settings_of[start] and "worker_class" in settings_of[bare]


def test_on_a_fresh_clone_copying_env_example_is_all_local_development_needs(clone, tmp_path):
    project, env = clone
    fresh = tmp_path / project.name
    shutil.copytree(project, fresh, ignore=shutil.ignore_patterns(".env", ".venv", "staticfiles", "db.sqlite3", "__pycache__"))
    (copy,) = re.findall(r"On a\s+fresh clone, `([^`]+)`", readme_text(project))
    check = "uv run python manage.py check"

    without_env = subprocess.run(["bash", "-c", check], cwd=fresh, env=env, capture_output=True, text=True, timeout=600)
    shell(copy, fresh, env)
    with_env = shell(check, fresh, env)

    assert copy == "cp .env.example .env"
    assert without_env.returncode != 0 and "DJANGO_SECRET_KEY" in without_env.stderr
    assert "no issues" in with_env.stdout


def test_the_readme_test_command_runs_the_suite(clone):
    project, env = clone
    (command,) = readme_commands(project, "Test it")

    result = subprocess.run(["bash", "-c", f"{command} -rsxX"], cwd=project, env=env, capture_output=True, text=True, timeout=600)

    assert command == "uv run pytest"
    judged_suite_output(result.returncode, result.stdout + result.stderr)
