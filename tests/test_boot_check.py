"""The post-generation boot check: a real gunicorn, real HTTP, real SIGTERM."""

import os
import subprocess
from pathlib import Path

import pytest
from conftest import TEST_PYTHON_VERSION
from support.deploy import PYENV_VERSIONS, python_of_version
from support.project import cookiecutter_command

pytestmark = pytest.mark.slow


@pytest.fixture
def supported_python():
    """A Python the project supports, for the boot check to boot it with: a
    machine without one skips these tests, naming the versions looked for."""
    return python_of_version(TEST_PYTHON_VERSION)


def generate(tmp_path, python_command, *answers, env=None):
    output_dir = tmp_path / "output"
    output_dir.mkdir(exist_ok=True)
    return subprocess.run(
        [*python_command, "--output-dir", str(output_dir), *answers],
        # The hook looks for Pythons where the tests did, though HOME is the test's own.
        env={**os.environ, "HOME": str(tmp_path), "PYENV_ROOT": str(PYENV_VERSIONS.parent), **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    ), output_dir


def without_uv_on_path():
    """This machine's PATH less any directory with uv in it: a machine with only Python and pip."""
    return os.pathsep.join(entry for entry in os.environ["PATH"].split(os.pathsep) if not (Path(entry) / "uv").exists())


@pytest.mark.usefixtures("supported_python")
def test_readme_generate_command_syncs_the_projects_environment_with_uv_and_boots_it(tmp_path):
    """The template's tooling has no Django and, here, no uv on the PATH: the
    hook gets uv with pip, and uv makes the project's .venv from uv.lock. The
    default .python-version (3.14) cannot be had on this machine, so the hook
    says so and uses an installed Python the project supports."""
    result, output_dir = generate(tmp_path, cookiecutter_command(), env={"PATH": without_uv_on_path()})

    assert result.returncode == 0, result.stderr
    assert "installing uv with pip, for this check only" in result.stdout
    assert "uv sync --locked --no-dev (the Python of .python-version)" in result.stdout
    assert "gunicorn answered GET /healthz -> 200" in result.stdout
    assert "gzip, Cache-Control: max-age=315360000, public, immutable" in result.stdout
    assert "SIGTERM -> gunicorn exited cleanly (0)" in result.stdout
    assert "Boot check passed" in result.stdout
    assert (output_dir / "my_service" / ".venv" / "bin" / "gunicorn").exists()
    assert not (output_dir / "my_service" / ".venv" / "bin" / "pytest").exists()  # no dev group
    wanted = (output_dir / "my_service" / ".python-version").read_text().strip()
    if f"version_info = {wanted}." not in (output_dir / "my_service" / ".venv" / "pyvenv.cfg").read_text():
        assert "that Python could not be had here; using " in result.stdout


@pytest.mark.usefixtures("supported_python")
def test_with_the_python_of_python_version_at_hand_the_check_uses_it(tmp_path):
    result, output_dir = generate(tmp_path, cookiecutter_command(), f"python_version={TEST_PYTHON_VERSION}")

    assert result.returncode == 0, result.stderr
    assert "could not be had here" not in result.stdout
    assert "Boot check passed" in result.stdout
    venv_config = (output_dir / "my_service" / ".venv" / "pyvenv.cfg").read_text()
    assert f"version_info = {TEST_PYTHON_VERSION}." in venv_config


def test_offline_the_boot_check_is_skipped_and_the_project_kept(tmp_path):
    unreachable = {"UV_INDEX_URL": "http://127.0.0.1:9/simple", "UV_DEFAULT_INDEX": "http://127.0.0.1:9/simple", "UV_NO_CACHE": "1",
                   "UV_HTTP_RETRIES": "0", "UV_HTTP_TIMEOUT": "2", "UV_PYTHON_DOWNLOADS": "never"}

    result, output_dir = generate(tmp_path, cookiecutter_command(), f"python_version={TEST_PYTHON_VERSION}", env=unreachable)

    assert result.returncode == 0, result.stderr
    assert "Could not install the project's dependencies (offline?)" in result.stderr
    assert "Boot check skipped" in result.stderr
    assert (output_dir / "my_service" / "manage.py").exists()


@pytest.mark.usefixtures("supported_python")
def test_a_project_that_cannot_boot_fails_generation_with_gunicorns_reason(tmp_path):
    # More workers than the database pools were sized for: only gunicorn meets that.
    result, output_dir = generate(tmp_path, cookiecutter_command(), f"python_version={TEST_PYTHON_VERSION}",
                                  env={"GUNICORN_CMD_ARGS": "--workers 7"})

    assert result.returncode != 0
    assert "Boot check FAILED: gunicorn exited with code 1 before answering." in result.stderr
    assert "gunicorn was told to run 7 workers" in result.stderr
    assert list(output_dir.iterdir()) == []


@pytest.mark.usefixtures("supported_python")
def test_a_bad_environment_fails_generation_at_the_first_command_that_meets_it(tmp_path):
    result, output_dir = generate(tmp_path, cookiecutter_command(), f"python_version={TEST_PYTHON_VERSION}",
                                  env={"GUNICORN_THREADS": "lots"})

    assert result.returncode != 0
    assert "Boot check FAILED: `manage.py migrate --noinput` failed:\nGUNICORN_THREADS must be a positive whole number" in result.stderr
    assert list(output_dir.iterdir()) == []


@pytest.mark.usefixtures("supported_python")
def test_with_keep_project_on_failure_a_failed_check_leaves_the_project_to_inspect(tmp_path):
    result, output_dir = generate(tmp_path, cookiecutter_command(), "--keep-project-on-failure", f"python_version={TEST_PYTHON_VERSION}",
                                  env={"GUNICORN_THREADS": "lots"})

    assert result.returncode != 0
    assert "Boot check FAILED" in result.stderr
    assert (output_dir / "my_service" / "manage.py").exists()
