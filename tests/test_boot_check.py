"""The post-generation boot check: a real gunicorn, real HTTP, real SIGTERM."""

import os
import subprocess

import pytest
from support.project import cookiecutter_command

pytestmark = pytest.mark.slow


def generate(tmp_path, python_command, *answers, env=None):
    output_dir = tmp_path / "output"
    output_dir.mkdir(exist_ok=True)
    return subprocess.run(
        [*python_command, "--output-dir", str(output_dir), *answers],
        env={**os.environ, "HOME": str(tmp_path), **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    ), output_dir


def test_readme_generate_command_installs_the_requirements_and_boots_the_project(tmp_path):
    """The template's tooling has no Django: the hook makes the project's own .venv."""
    result, output_dir = generate(tmp_path, cookiecutter_command())

    assert result.returncode == 0, result.stderr
    assert "installing requirements.txt into .venv" in result.stdout
    assert "gunicorn answered GET /healthz -> 200" in result.stdout
    assert "gzip, Cache-Control: max-age=315360000, public, immutable" in result.stdout
    assert "SIGTERM -> gunicorn exited cleanly (0)" in result.stdout
    assert "Boot check passed" in result.stdout
    assert (output_dir / "my_service" / ".venv" / "bin" / "gunicorn").exists()


def test_an_interpreter_that_has_the_requirements_is_used_as_is(tmp_path, project_python):
    result, output_dir = generate(tmp_path, cookiecutter_command(project_python))

    assert result.returncode == 0, result.stderr
    assert f"using {project_python}, which has the requirements" in result.stdout
    assert "Boot check passed" in result.stdout
    assert not (output_dir / "my_service" / ".venv").exists()


def test_offline_the_boot_check_is_skipped_and_the_project_kept(tmp_path):
    unreachable_index = {"PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_FIND_LINKS": "", "PIP_RETRIES": "0", "PIP_TIMEOUT": "2"}

    result, output_dir = generate(tmp_path, cookiecutter_command(), env=unreachable_index)

    assert result.returncode == 0, result.stderr
    assert "Could not install the requirements (offline?)" in result.stderr
    assert "Boot check skipped" in result.stderr
    assert (output_dir / "my_service" / "manage.py").exists()


def test_a_project_that_cannot_boot_fails_generation_with_gunicorns_reason(tmp_path, project_python):
    # More workers than the database pools were sized for: only gunicorn meets that.
    result, output_dir = generate(tmp_path, cookiecutter_command(project_python), env={"GUNICORN_CMD_ARGS": "--workers 7"})

    assert result.returncode != 0
    assert "Boot check FAILED: gunicorn exited with code 1 before answering." in result.stderr
    assert "gunicorn was told to run 7 workers" in result.stderr
    assert list(output_dir.iterdir()) == []


def test_a_bad_environment_fails_generation_at_the_first_command_that_meets_it(tmp_path, project_python):
    result, output_dir = generate(tmp_path, cookiecutter_command(project_python), env={"GUNICORN_THREADS": "lots"})

    assert result.returncode != 0
    assert "Boot check FAILED: `manage.py migrate --noinput` failed:\nGUNICORN_THREADS must be a positive whole number" in result.stderr
    assert list(output_dir.iterdir()) == []
