"""Every bake is a uv project: a pyproject.toml with its dependencies and a
dev group, a uv.lock that matches it, .python-version, no requirements.txt.
The default is the newest Django feature release; django_version=5.2 gives
the LTS, which passes the same suite and deploy checks."""

import tomllib

import pytest
from conftest import TEST_PYTHON_VERSION, bake
from support.deploy import python_of_version
from support.project import UV, TEMPLATE_DIR, environment_without_project_variables, generated_suite, production_env, run

pytestmark = pytest.mark.slow

OPTION_SETS = {
    "defaults": {},
    "django-5.2": {"django_version": "5.2"},
    "django-5.2-python-3.11": {"django_version": "5.2", "python_version": "3.11"},
    "python-3.12": {"python_version": "3.12"},
    "redis": {"redis": True},
    "background-tasks": {"background_tasks": True},
    "background-tasks-django-5.2-python-3.11": {"background_tasks": True, "django_version": "5.2", "python_version": "3.11"},
    "no-deploy-targets": {"deploy_docker": False, "deploy_heroku": False, "deploy_render": False},
}


def test_the_untouched_defaults_are_the_newest_django_on_the_platforms_default_python(cookies):
    result = cookies.bake(template=str(TEMPLATE_DIR), extra_context={"boot_check": False})
    project = result.project_path
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    locked = {package["name"]: package["version"] for package in tomllib.loads((project / "uv.lock").read_text())["package"]}

    assert (project / ".python-version").read_text() == "3.14\n"
    assert "\nFROM python:3.14-slim\n" in (project / "Dockerfile").read_text()
    assert "django>=6.1,<6.2" in pyproject["project"]["dependencies"]
    assert locked["django"].startswith("6.1.")
    assert not list(project.glob("requirements*.txt"))


@pytest.mark.parametrize("answers", OPTION_SETS.values(), ids=OPTION_SETS.keys())
def test_every_option_set_bakes_a_lock_that_matches_its_pyproject(cookies, answers):
    result = bake(cookies, **answers)
    project = result.project_path
    python = python_of_version(answers.get("python_version", TEST_PYTHON_VERSION))

    check = run([UV, "lock", "--check", "--python", python], project, {**environment_without_project_variables(), "UV_PYTHON_DOWNLOADS": "never"})

    assert "Resolved" in check.stderr
    assert (project / ".python-version").read_text().strip() == answers.get("python_version", TEST_PYTHON_VERSION)
    assert tomllib.loads((project / "pyproject.toml").read_text())["dependency-groups"]["dev"]


def test_django_version_5_2_locks_the_lts_with_django_csp(lts_project):
    pyproject = tomllib.loads((lts_project / "pyproject.toml").read_text())
    locked = {package["name"]: package["version"] for package in tomllib.loads((lts_project / "uv.lock").read_text())["package"]}

    assert locked["django"].startswith("5.2.")
    assert "django-csp" in locked
    assert "django>=5.2,<5.3" in pyproject["project"]["dependencies"]


@pytest.mark.parametrize("django", ["6.1", "5.2"])
def test_uv_sync_locked_installs_the_django_asked_for_and_the_suite_and_deploy_checks_pass(request, django):
    project, python = (
        (request.getfixturevalue("default_project"), request.getfixturevalue("project_python")) if django == "6.1"
        else (request.getfixturevalue("lts_project"), request.getfixturevalue("lts_python"))
    )

    version = run([str(python), "-c", "import django; print(django.get_version())"], project, environment_without_project_variables())
    generated_suite(python, project, environment_without_project_variables())
    # With production's mail server (without one, the check warns: test_generated_project.py), and HSTS
    # raised to a year (until then the check notes the step).
    deploy_check = run(
        [str(python), "manage.py", "check", "--deploy", "--fail-level", "WARNING"], project,
        production_env(python, EMAIL_URL="smtp://mail.example.com", DJANGO_SECURE_HSTS_SECONDS="31536000"),
    )

    assert version.stdout.startswith(f"{django}.")
    assert "System check identified no issues" in deploy_check.stdout
