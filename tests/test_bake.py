"""Baking: every answer ends up where it belongs, and nothing is left unrendered."""

import json
import re
import tomllib
import warnings

import pytest
import yaml
from conftest import bake
from support.deploy import from_images

DEPLOY_FILES = {
    "deploy_docker": ["Dockerfile", ".dockerignore", "compose.yaml"],
    "deploy_heroku": ["Procfile", "app.json"],
    "deploy_render": ["render.yaml"],
}
# Django templates keep their own {% %} tags after baking.
DJANGO_TEMPLATES = re.compile(r"^templates/.*\.html$")
# GitHub Actions workflows keep their own ${{ }} expressions.
GITHUB_EXPRESSION = re.compile(r"\$\{\{.*?\}\}")


# What running the baked project adds to it (other tests share the project), not what baking wrote.
MADE_BY_RUNNING = {".venv", "__pycache__", "staticfiles", "db.sqlite3"}


def project_files(project_dir):
    for path in sorted(project_dir.rglob("*")):
        if path.is_file() and not MADE_BY_RUNNING & set(path.relative_to(project_dir).parts):
            yield path.relative_to(project_dir).as_posix(), path.read_text()


# The README's example templates keep their own {% %} tags and {{ }} variables.
README_TEMPLATE_EXAMPLE = re.compile(r"^```html\n.*?^```", re.MULTILINE | re.DOTALL)


def without_github_expressions(name, text):
    return GITHUB_EXPRESSION.sub("", text) if name.startswith(".github/workflows/") else text


def without_template_examples(name, text):
    return README_TEMPLATE_EXAMPLE.sub("", text) if name == "README.md" else text


def test_default_answers_bake_a_complete_startproject_shaped_project(default_project):
    expected = [
        "manage.py", "gunicorn.conf.py", "pyproject.toml", "uv.lock", ".env", ".env.example",
        ".gitignore", ".python-version", "README.md", "Dockerfile", ".dockerignore", "Procfile", "app.json",
        "render.yaml", "my_service/settings.py", "my_service/urls.py", "my_service/wsgi.py", "my_service/asgi.py",
        ".github/workflows/ci.yml", ".github/dependabot.yml", ".pre-commit-config.yaml",
        "tests/test_pages.py", "accounts/models.py", "accounts/admin.py", "accounts/migrations/0001_initial.py",
        "tests/test_accounts.py",
    ]
    missing = [name for name in expected if not (default_project / name).is_file()]

    assert default_project.name == "my_service"
    assert missing == []


@pytest.fixture(params=["default_project", "tasks_project"])
def default_or_tasks_project(request):
    """The default bake, then the one with background_tasks=yes (files of its own, and more in others)."""
    return request.getfixturevalue(request.param)


def test_no_template_syntax_is_left_in_any_file(default_or_tasks_project):
    leftovers = [
        name for name, text in project_files(default_or_tasks_project)
        if "cookiecutter" in text
        or (
            not DJANGO_TEMPLATES.match(name)
            and re.search(r"\{\{|\{%|\{#", without_template_examples(name, without_github_expressions(name, text)))
        )
    ]

    assert leftovers == []


def test_the_django_package_holds_what_a_developer_edits_and_one_plumbing_package(default_project):
    django_package = sorted(path.name for path in (default_project / "my_service").iterdir() if path.name != "__pycache__")
    plumbing_package = sorted(path.name for path in (default_project / "my_service" / "plumbing").glob("*.py"))
    server_package = sorted(path.name for path in (default_project / "my_service" / "plumbing" / "server").glob("*.py"))

    # startproject's files, and the one package the template maintains; nothing about gunicorn.
    assert django_package == ["__init__.py", "asgi.py", "plumbing", "settings.py", "urls.py", "views.py", "wsgi.py"]
    assert plumbing_package == [
        "__init__.py", "apps.py", "checks.py", "database.py", "environment.py", "health.py", "logs.py", "request_id.py", "sentry.py",
        "sessions.py",
    ]
    assert server_package == [
        "__init__.py", "__main__.py", "access_log.py", "connection_budget.py", "gunicorn_internals.py", "network.py", "sizing.py",
        "watchdog.py", "wsgi.py", "wsgi_wrapper.py",
    ]
    # The one place that uses gunicorn beyond its documented settings and hooks.
    uses_internals = [name for name, text in project_files(default_project) if "Arbiter" in text or "LISTENERS" in text]
    assert uses_internals == ["my_service/plumbing/server/gunicorn_internals.py", "tests/test_gunicorn_internals.py"]


@pytest.mark.parametrize("project", ["redis_project", "tasks_project"])
def test_no_generated_file_points_at_the_templates_own_files(request, project):
    """A generated project has no benchmarks/ nor FINDINGS: its comments say what they mean in their own words."""
    pointers = [name for name, text in project_files(request.getfixturevalue(project)) if re.search(r"benchmarks/|FINDINGS|sweep-|the template's", text)]

    assert pointers == []


def test_every_python_file_compiles_and_every_data_file_parses(default_or_tasks_project):
    """Warnings are errors here: a stray backslash in a docstring is a bug waiting."""
    for name, text in project_files(default_or_tasks_project):
        if name.endswith(".py"):
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                compile(text, name, "exec")
        elif name.endswith(".json"):
            json.loads(text)
        elif name.endswith((".yaml", ".yml")):
            yaml.safe_load(text)
        elif name.endswith(".toml"):
            tomllib.loads(text)


def test_the_secret_key_is_in_the_ignored_env_file_and_in_no_tracked_file(default_project):
    env_file = (default_project / ".env").read_text()
    secret_key = re.search(r"^DJANGO_SECRET_KEY=(.+)$", env_file, re.MULTILINE).group(1)
    files_with_key = [name for name, text in project_files(default_project) if secret_key in text]

    assert len(secret_key) >= 50
    assert files_with_key == [".env"]
    assert ".env" in (default_project / ".gitignore").read_text().splitlines()
    assert ".env" in (default_project / ".dockerignore").read_text().splitlines()
    assert oct((default_project / ".env").stat().st_mode & 0o777) == "0o600"


def test_the_env_file_turns_debug_on_for_local_development_and_says_never_to_commit_it(cookies):
    # A bake of its own: mutation/hooks.py credits a bake to the test that makes it, not to those sharing it.
    lines = (bake(cookies).project_path / ".env").read_text().splitlines()

    assert lines[0] == "# Local development settings; .env.example lists every variable. Never commit this file."
    assert "DJANGO_DEBUG=true" in lines


def test_each_bake_gets_its_own_secret_key(cookies):
    first, second = bake(cookies), bake(cookies)

    assert (first.project_path / ".env").read_text() != (second.project_path / ".env").read_text()


@pytest.mark.parametrize("option", DEPLOY_FILES)
def test_a_deploy_target_left_out_leaves_out_its_files_only(cookies, option):
    result = bake(cookies, **{option: "no"})

    assert result.exit_code == 0, result.exception
    for other, names in DEPLOY_FILES.items():
        for name in names:
            assert (result.project_path / name).exists() == (other != option), name


def test_without_sentry_the_project_has_no_sentry_code_and_the_same_locked_dependencies(cookies):
    with_sentry, without = bake(cookies), bake(cookies, sentry="no")

    assert without.exit_code == 0, without.exception
    assert not (without.project_path / "my_service" / "plumbing" / "sentry.py").exists()
    assert not (without.project_path / "tests" / "test_sentry.py").exists()
    for name in ("my_service/settings.py", "my_service/plumbing/__init__.py", "README.md", ".env.example"):
        assert "sentry" not in (without.project_path / name).read_text().lower(), name
    assert (with_sentry.project_path / "my_service" / "plumbing" / "sentry.py").exists()
    assert "start_sentry(STATIC_URL)" in (with_sentry.project_path / "my_service" / "settings.py").read_text()
    for name in ("pyproject.toml", "uv.lock"):
        assert (without.project_path / name).read_text() == (with_sentry.project_path / name).read_text()


def test_with_no_deploy_target_the_readme_has_no_deploy_section(cookies):
    result = bake(cookies, deploy_docker="no", deploy_heroku="no", deploy_render="no")

    assert "## Deploy" not in (result.project_path / "README.md").read_text()


@pytest.mark.parametrize(
    ("version", "django", "supported"), [("3.11", "5.2", ">=3.11"), ("3.12", "6.1", ">=3.12"), ("3.13", "6.1", ">=3.12"), ("3.14", "6.1", ">=3.12")]
)
def test_the_python_version_sets_what_deploys_and_requires_python_what_the_project_runs_on(cookies, version, django, supported):
    result = bake(cookies, python_version=version, django_version=django)

    assert result.exit_code == 0, result.exception
    assert (result.project_path / ".python-version").read_text().strip() == version
    assert from_images((result.project_path / "Dockerfile").read_text()) == [f"python:{version}-slim"] * 2
    pyproject = tomllib.loads((result.project_path / "pyproject.toml").read_text())
    assert pyproject["project"]["requires-python"] == supported


def test_the_time_zone_becomes_the_django_time_zone(cookies):
    result = bake(cookies, time_zone="Europe/Paris")

    assert 'TIME_ZONE = "Europe/Paris"' in (result.project_path / "my_service" / "settings.py").read_text()


def test_the_descriptive_answers_reach_the_metadata_and_deploy_files(cookies):
    result = bake(
        cookies,
        project_name="Billing API",
        description="Invoices and payments.",
        author_name="Ada Lovelace",
        email="ada@example.org",
        domain_name="billing.example.org",
    )
    project = result.project_path
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    app_json = json.loads((project / "app.json").read_text())
    render = yaml.safe_load((project / "render.yaml").read_text())

    assert project.name == "billing_api"
    assert pyproject["project"]["authors"] == [{"name": "Ada Lovelace", "email": "ada@example.org"}]
    assert pyproject["project"]["description"] == "Invoices and payments."
    assert app_json["name"] == "Billing API"
    assert "billing.example.org" in app_json["env"]["DJANGO_ALLOWED_HOSTS"]["value"].split(",")
    assert render["services"][0]["name"] == "billing-api"
    allowed_hosts = next(var for var in render["services"][0]["envVars"] if var["key"] == "DJANGO_ALLOWED_HOSTS")
    assert allowed_hosts["value"] == "billing.example.org"
    assert (project / "README.md").read_text().startswith("# Billing API\n\nInvoices and payments.")


def test_a_name_with_quotes_backslashes_and_unicode_bakes_with_every_file_valid(cookies):
    name = 'Zoë\'s "Quoted" \\ Service'
    result = bake(cookies, project_name=name, description='Says "hi" \\ <b>bold</b>')
    project = result.project_path

    assert result.exit_code == 0, result.exception
    assert project.name == "zoe_s_quoted_service"
    assert json.loads((project / "app.json").read_text())["name"] == name
    assert tomllib.loads((project / "pyproject.toml").read_text())["project"]["description"] == 'Says "hi" \\ <b>bold</b>'
    assert "<b>bold</b>" not in (project / "templates" / "home.html").read_text()
    test_every_python_file_compiles_and_every_data_file_parses(project)


def test_without_the_boot_check_nothing_is_run(cookies, capfd):
    result = bake(cookies, boot_check="no")

    assert result.exit_code == 0, result.exception
    assert "Boot check" not in capfd.readouterr().out
    assert not (result.project_path / "db.sqlite3").exists()
    assert not (result.project_path / ".venv").exists()


# How the generated code reads a variable: its env_* readers, os.environ, and sizing's reader.
READS_A_VARIABLE = r'(?:env_\w+\(|environ\.get\(|environ\[|_positive_int\(\s*environ,\s*)"([A-Z][A-Z0-9_]*)"'
# Set by the platform or the WSGI server, never by the user.
NOT_THE_USERS_TO_SET = {
    "DYNO", "RENDER", "RENDER_EXTERNAL_HOSTNAME", "PATH_INFO", "HTTP_USER_AGENT", "REMOTE_ADDR", "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO", "QUERY_STRING", "REQUEST_METHOD", "RENDER_GIT_COMMIT",
}


def test_every_variable_the_project_reads_is_in_the_readmes_configuration_table(default_or_tasks_project):
    default_project = default_or_tasks_project
    code = [default_project / "gunicorn.conf.py", *(default_project / "my_service").rglob("*.py")]
    read = {name for path in code for name in re.findall(READS_A_VARIABLE, path.read_text())} - NOT_THE_USERS_TO_SET
    configuration = (default_project / "README.md").read_text().split("## Configuration")[1].split("\n## ")[0]
    documented = {name for row in re.findall(r"^\| (.*?) \|", configuration, re.MULTILINE) for name in re.findall(r"`([A-Z_]+)`", row)}

    assert {"DJANGO_SECRET_KEY", "WEB_CONCURRENCY", "DATABASE_MAX_CONNECTIONS", "PORT", "FORWARDED_ALLOW_IPS"} <= read
    assert read - documented == set()
