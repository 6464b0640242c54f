import os
import re
import subprocess
import shutil
from pathlib import Path

import pytest

from support.postgres import PostgresCluster, postgres_bin_dir, throwaway_postgres
from support.project import TEMPLATE_DIR, make_virtualenv, production_env, run
from support.redis import RedisServer, redis_server_binary


def bake(cookies, **answers):
    """Bake the template with `answers` over the defaults; the boot check is
    off unless asked for, since most tests boot the project themselves."""
    return cookies.bake(template=str(TEMPLATE_DIR), extra_context={"boot_check": False, **answers})


def template_requirement(name):
    """The pinned line for `name` in the template's requirements-dev.txt."""
    for line in (TEMPLATE_DIR / "requirements-dev.txt").read_text().splitlines():
        if re.match(rf"{re.escape(name)}==", line, re.IGNORECASE):
            return line.strip()
    raise LookupError(name)


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
def project_python(default_project, tmp_path_factory):
    """A virtualenv with the baked project's own requirements-dev.txt (and
    cookiecutter, to bake from an interpreter that has the requirements)."""
    python = make_virtualenv(
        tmp_path_factory.mktemp("project-venv"),
        "-r", str(default_project / "requirements-dev.txt"), template_requirement("cookiecutter"),
    )
    # Every test of the baked project against another gunicorn release, e.g. the oldest the project supports.
    if os.environ.get("TEST_GUNICORN_VERSION"):
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", f"gunicorn=={os.environ['TEST_GUNICORN_VERSION']}"], check=True)
    return python


@pytest.fixture(scope="session")
def built_project(default_project, project_python):
    """The default project after the build steps every deploy target runs."""
    env = production_env(project_python)
    run([str(project_python), "manage.py", "collectstatic", "--noinput"], default_project, env)
    run([str(project_python), "manage.py", "migrate", "--noinput"], default_project, env)
    return default_project


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
    project = tmp_path_factory.mktemp("fault-project") / built_project.name
    shutil.copytree(built_project, project, ignore=shutil.ignore_patterns(".env", "__pycache__"))
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
