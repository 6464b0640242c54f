import importlib.util
import os
import shutil
from pathlib import Path

import pytest

from support.deploy import TEST_PYTHON_VERSIONS, available_test_python_version
from support.postgres import PostgresCluster, postgres_bin_dir, throwaway_postgres
from support.project import TEMPLATE_DIR, UV, production_env, run, uv_sync
from support.redis import RedisServer, redis_server_binary


# The projects the tests deploy and run are baked for a Python this machine
# has and the project supports (support/deploy.py): 3.13 on CI's, where
# python:3.14-slim and a 3.14 interpreter cannot be had. Without any, the
# tests that need one skip, naming the versions they looked for.
# test_bake.py checks what the untouched defaults bake.
TEST_PYTHON_VERSION = available_test_python_version() or TEST_PYTHON_VERSIONS[0]


def bake(cookies, **answers):
    """Bake the template with `answers` over the defaults (Python TEST_PYTHON_VERSION); the
    boot check is off unless asked for, since most tests boot the project themselves."""
    return cookies.bake(template=str(TEMPLATE_DIR), extra_context={"boot_check": False, "python_version": TEST_PYTHON_VERSION, **answers})


@pytest.fixture(scope="session")
def default_project(cookies_session):
    result = bake(cookies_session)
    assert result.exit_code == 0, result.exception
    return result.project_path


@pytest.fixture(scope="session")
def redis_project(cookies_session):
    """A project baked with redis=yes: Redis in every deploy file."""
    result = bake(cookies_session, redis=True)
    assert result.exit_code == 0, result.exception
    return result.project_path


@pytest.fixture(scope="session")
def tasks_project(cookies_session):
    """A project baked with background_tasks=yes: tasks, and a worker in every deploy file."""
    result = bake(cookies_session, background_tasks=True)
    assert result.exit_code == 0, result.exception
    return result.project_path


@pytest.fixture(scope="session")
def tasks_redis_project(cookies_session):
    """A project baked with background_tasks=yes and redis=yes: the worker gets Redis too."""
    result = bake(cookies_session, background_tasks=True, redis=True)
    assert result.exit_code == 0, result.exception
    return result.project_path


@pytest.fixture(scope="session")
def project_python(default_project):
    """The baked project's own .venv, made by `uv sync --locked` (dev group included), as its README says."""
    python = uv_sync(default_project)
    # Every test of the baked project against another gunicorn release, e.g. the oldest the project supports.
    if os.environ.get("TEST_GUNICORN_VERSION"):
        run([UV, "pip", "install", "--python", str(python), f"gunicorn=={os.environ['TEST_GUNICORN_VERSION']}"], default_project, os.environ)
    return python


@pytest.fixture(scope="session")
def built_project(default_project, project_python):
    """The default project after the build steps every deploy target runs."""
    return built(default_project, project_python)


def built(project, python):
    env = production_env(python)
    run([str(python), "manage.py", "collectstatic", "--noinput"], project, env)
    run([str(python), "manage.py", "migrate", "--noinput"], project, env)
    return project


@pytest.fixture(scope="session")
def lts_project(cookies_session):
    """A project baked with django_version=5.2, the LTS."""
    result = bake(cookies_session, django_version="5.2")
    assert result.exit_code == 0, result.exception
    return result.project_path


@pytest.fixture(scope="session")
def lts_python(lts_project):
    return uv_sync(lts_project)


@pytest.fixture(scope="session")
def postgres_url():
    """A PostgreSQL server: TEST_DATABASE_URL, or a throwaway cluster."""
    if os.environ.get("TEST_DATABASE_URL"):
        yield os.environ["TEST_DATABASE_URL"]
        return
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed and TEST_DATABASE_URL is not set")
    with throwaway_postgres(bin_dir) as url:
        yield url


@pytest.fixture(scope="session")
def fault_project(built_project, tmp_path_factory):
    """A copy of the built project as deployed (no .env), plus test-only
    views from support/fault_views.py under /faults/."""
    return with_fault_views(built_project, tmp_path_factory)


@pytest.fixture(scope="session")
def lts_fault_project(lts_project, lts_python, tmp_path_factory):
    """The same, of the django_version=5.2 project."""
    return with_fault_views(built(lts_project, lts_python), tmp_path_factory)


def with_fault_views(built_project, tmp_path_factory):
    project = tmp_path_factory.mktemp("fault-project") / built_project.name
    shutil.copytree(built_project, project, ignore=shutil.ignore_patterns(".env", "__pycache__", ".venv"))
    package = project / built_project.name
    shutil.copy(Path(__file__).parent / "support" / "fault_views.py", package / "fault_views.py")
    with open(package / "urls.py", "a") as urls:
        urls.write("\nfrom . import fault_views  # added by the template's tests\n\nurlpatterns += fault_views.urlpatterns\n")
    return project


@pytest.fixture
def postgres_cluster():
    """A running PostgreSQL cluster of the test's own, which it may stop."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    cluster = PostgresCluster(bin_dir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def redis_server():
    """A running redis-server of the test's own, which it may stop and start again."""
    yield from throwaway_redis(tls=False)


@pytest.fixture
def redis_tls_server():
    """The same, speaking TLS only, with a self-signed certificate (as Heroku's Key-Value Store)."""
    yield from throwaway_redis(tls=True)


def throwaway_redis(tls):
    binary = redis_server_binary()
    if binary is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
    server = RedisServer(binary, tls=tls)
    try:
        server.start()
        yield server
    finally:
        server.remove()


def pytest_terminal_summary(terminalreporter):
    """What the deploy tests measured (image size, build and start times), at the end of every run."""
    from support.deploy import MEASUREMENTS

    if MEASUREMENTS:
        terminalreporter.section("deploy measurements")
        for what, value in MEASUREMENTS:
            terminalreporter.write_line(f"{what}: {value}")


def load_hook(name, directory, **answers):
    """hooks/<name>.py rendered as cookiecutter renders it (the defaults of
    cookiecutter.json, computed as --no-input computes them, with `answers`
    over them), written to `directory` and imported without running its
    __main__ part. Named by its path in the template, as mutation/hooks.py's
    mutants of it are."""
    from cookiecutter.generate import generate_context
    from cookiecutter.hooks import create_env_with_context
    from cookiecutter.prompt import prompt_for_config

    context = generate_context(str(TEMPLATE_DIR / "cookiecutter.json"), extra_context=answers)
    context["cookiecutter"] = prompt_for_config(context, no_input=True)
    source = create_env_with_context(context).from_string((TEMPLATE_DIR / "hooks" / f"{name}.py").read_text()).render(**context)
    path = Path(directory) / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"hooks.{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def post_gen_hook(tmp_path, monkeypatch):
    """The post-generation hook for the default answers, loaded in-process with tmp_path as the project directory."""
    monkeypatch.chdir(tmp_path)
    return load_hook("post_gen_project", tmp_path)
