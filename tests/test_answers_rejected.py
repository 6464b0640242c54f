"""Bad answers are refused before anything is written, with a message that
names the answer and says what is expected."""

import os
import subprocess

import pytest
from conftest import load_hook
from support.project import cookiecutter_command


def bake_with_cli(tmp_path, **answers):
    """Run cookiecutter as a user does; HOME keeps its replay files out of the real one."""
    output_dir = tmp_path / "output"
    output_dir.mkdir()
    result = subprocess.run(
        [*cookiecutter_command(), "--output-dir", str(output_dir), "boot_check=no", *(f"{key}={value}" for key, value in answers.items())],
        env={**os.environ, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result, output_dir


IDENTIFIER = "letters a-z, digits and underscores, not starting with a digit; pass e.g. project_slug=my_service."


@pytest.fixture(scope="module")
def pre_gen_hook(tmp_path_factory):
    """The pre-generation hook for the default answers, loaded in-process: its problems() judges any answers."""
    return load_hook("pre_gen_project", tmp_path_factory.mktemp("pre_gen"))


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"project_slug": "My-Service"}, "project_slug 'My-Service' must be a lower-case Python identifier"),
        ({"project_slug": "1password_sync"}, "must be a lower-case Python identifier"),
        ({"project_slug": "class"}, "project_slug 'class' is a Python keyword"),
        ({"project_slug": "match"}, "project_slug 'match' is a Python keyword"),
        ({"project_slug": "django"}, "project_slug 'django' would shadow a module the project imports"),
        ({"project_slug": "gunicorn"}, "would shadow a module the project imports"),
        ({"project_slug": "test"}, "would shadow a module the project imports"),
        ({"project_slug": "email"}, "would shadow a module the project imports"),
        ({"project_slug": "csp"}, "project_slug 'csp' would shadow a module the project imports"),
        ({"project_slug": "django_tasks_db"}, "project_slug 'django_tasks_db' would shadow a module the project imports"),
        ({"project_slug": "accounts"}, "project_slug 'accounts' would shadow a module the project imports"),
        ({"project_slug": "café"}, "project_slug 'café' must be a lower-case Python identifier"),
        ({"project_name": "   "}, "project_name must not be empty."),
        ({"email": "not-an-email"}, "email 'not-an-email' is not an email address"),
        ({"email": "ada@localhost"}, "is not an email address"),
        ({"domain_name": "Example Com"}, "domain_name 'Example Com' is not a lower-case domain name"),
        ({"python_version": "3.9"}, "python_version '3.9' is not supported; choose one of 3.11, 3.12, 3.13, 3.14"),
        ({"python_version": "3"}, "python_version '3' is not supported"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone 'Mars/Olympus_Mons' is not an IANA time zone name"),
        ({"django_version": "4.2"}, "django_version '4.2' is not offered; choose 6.1 (the newest feature release) or 5.2 (the LTS)."),
        ({"django_version": "7.0"}, "django_version '7.0' is not offered"),
        ({"python_version": "3.11"}, "Django 6.1 needs Python 3.12 or newer, not 3.11; choose a newer python_version or django_version=5.2."),
    ],
)
def test_a_bad_answer_is_one_problem_naming_it_and_what_is_expected(pre_gen_hook, answers, message):
    found = pre_gen_hook.problems({**pre_gen_hook.answers, **answers})

    assert len(found) == 1, found
    assert message in found[0]


@pytest.mark.parametrize(
    "answers",
    [
        {},
        # The oldest Python each Django release runs on.
        {"python_version": "3.12", "django_version": "6.1"},
        {"python_version": "3.11", "django_version": "5.2"},
        {"python_version": "3.14", "django_version": "5.2"},
        {"email": "Ada@Example.ORG"},
        {"domain_name": "api-2.example.co.uk"},
        {"time_zone": "America/Argentina/Buenos_Aires"},
        {"project_slug": "billing_v2"},
    ],
    ids=["defaults", "django-6.1-oldest-python", "django-5.2-oldest-python", "django-5.2-newest-python",
         "email-domain-in-capitals", "hyphenated-subdomains", "three-part-time-zone", "slug-with-digits"],
)
def test_answers_at_the_edge_of_what_is_valid_are_no_problem(pre_gen_hook, answers):
    assert pre_gen_hook.problems({**pre_gen_hook.answers, **answers}) == []


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"project_slug": "My-Service"}, "  - project_slug 'My-Service' must be a lower-case Python identifier: " + IDENTIFIER),
        # The slug cookiecutter.json makes from the name is judged too.
        ({"project_name": "3D Models"}, "  - project_slug '3d_models' must be a lower-case Python identifier: " + IDENTIFIER),
        ({"project_name": "   "}, "  - project_name must not be empty."),
    ],
)
def test_a_bad_answer_stops_cookiecutter_and_leaves_no_directory(tmp_path, answers, message):
    result, output_dir = bake_with_cli(tmp_path, **answers)

    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert lines[0] == "Cannot generate the project:"
    # A problem a line; an empty name makes an empty slug too, and both are named.
    assert message in lines[1:]
    assert list(output_dir.iterdir()) == []


def test_every_problem_is_reported_at_once(tmp_path):
    result, _ = bake_with_cli(tmp_path, project_slug="class", email="nope", python_version="2.7", django_version="4.2")

    assert result.returncode != 0
    assert "project_slug 'class'" in result.stderr
    assert "email 'nope'" in result.stderr
    assert "python_version '2.7'" in result.stderr
    assert "django_version '4.2'" in result.stderr


def test_answers_at_the_edge_of_what_is_valid_are_accepted(tmp_path):
    """The oldest Python the Django release runs on; an address whose domain is in capitals."""
    result, output_dir = bake_with_cli(tmp_path, python_version="3.12", django_version="6.1", email="Ada@Example.ORG")

    assert result.returncode == 0, result.stderr
    assert (output_dir / "my_service" / "manage.py").exists()
