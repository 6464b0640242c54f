"""The gunicorn releases a generated project may meet as its team upgrades.

The project's server runtime names the range of releases it was tested
with (server/gunicorn_internals.py, TESTED_GUNICORN); its requirements take
every later patch and minor release below the next major one. With the
oldest and the newest tested releases, with the newest on PyPI within the
requirements, and with a release numbered past the tested range (a
dependency update's), the generated suite passes, its live-server tests
included. With a release outside the range the project still serves every
request: its start command says in one line that it runs gunicorn's own
access log and stop, and does."""

import ast
import os
import re

import pytest
from support.load import VIA_HTTPS, request
from support.network import http_get
from support.project import (
    UV,
    environment_without_project_variables,
    generated_suite,
    procfile_command,
    production_env,
    run,
    running_server,
    uv_sync,
)

pytestmark = pytest.mark.slow

# Releases the old runtime served nothing with (23.0.0), and the one before the range.
UNTESTED_RELEASES = ["23.0.0", "24.1.1"]
# A minor release past the newest tested one, as a dependency update would bring.
UNRELEASED_MINOR = "27.99.0"


def releases_tested(project_dir):
    source = (project_dir / project_dir.name / "plumbing" / "server" / "gunicorn_internals.py").read_text()
    (assignment,) = [node for node in ast.parse(source).body if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "TESTED_GUNICORN"]
    return [".".join(map(str, version)) for version in ast.literal_eval(assignment.value)]


@pytest.fixture(scope="module")
def release_python(default_project, tmp_path_factory):
    """An environment of the project's locked dependencies, whose gunicorn each test replaces."""
    python = uv_sync(default_project, environment=tmp_path_factory.mktemp("releases") / "env")

    def with_gunicorn(requirement):
        # Reinstalled every time: a test may have renumbered the copy installed.
        command = [UV, "pip", "install", "--reinstall-package", "gunicorn", "--python", str(python), f"gunicorn{requirement}"]
        run(command, default_project, os.environ)
        return python

    return with_gunicorn


def requirement_range(project_dir):
    """The gunicorn versions the project's pyproject.toml accepts, e.g. '>=25.0.0,<28'."""
    return re.search(r'"gunicorn(>=[^"]+)"', (project_dir / "pyproject.toml").read_text()).group(1)


def numbered_as(python, version):
    """Make the installed gunicorn report `version`: the code stays that of the release installed."""
    package_init = python.parent.parent.glob("lib/python*/site-packages/gunicorn/__init__.py")
    (path,) = package_init
    numbers = ", ".join(version.split("."))
    renumbered = re.sub(r"^version_info = .*$", f"version_info = ({numbers})", path.read_text(), flags=re.MULTILINE)
    # A new file, not the installed one rewritten: uv links installed files to
    # its cache, and every other environment installed from it.
    path.unlink()
    path.write_text(renumbered)


@pytest.mark.parametrize("end", ["oldest", "newest"])
def test_the_generated_suite_passes_with_the_oldest_and_the_newest_tested_release(default_project, release_python, end):
    version = dict(zip(["oldest", "newest"], releases_tested(default_project)))[end]
    python = release_python(f"=={version}")

    output = generated_suite(python, default_project, environment_without_project_variables())

    print(f"\n[gunicorn {version}] {output.strip().splitlines()[-1]}")


def test_the_generated_suite_passes_with_the_newest_release_on_pypi_its_requirements_take(default_project, release_python):
    python = release_python(requirement_range(default_project))
    installed = run([str(python), "-c", "import gunicorn; print(gunicorn.__version__)"], default_project, os.environ).stdout.strip()

    output = generated_suite(python, default_project, environment_without_project_variables())

    print(f"\n[gunicorn {installed}, the newest {requirement_range(default_project)}] {output.strip().splitlines()[-1]}")


def test_the_generated_suite_passes_with_a_release_numbered_past_the_tested_range(default_project, release_python):
    python = release_python(requirement_range(default_project))
    numbered_as(python, UNRELEASED_MINOR)

    output = generated_suite(python, default_project, environment_without_project_variables())

    print(f"\n[gunicorn numbered {UNRELEASED_MINOR}] {output.strip().splitlines()[-1]}")


@pytest.mark.parametrize("version", [*UNTESTED_RELEASES, UNRELEASED_MINOR])
def test_an_untested_release_serves_every_request_with_gunicorns_own_behaviour_and_says_so(built_project, release_python, version, tmp_path):
    if version == UNRELEASED_MINOR:
        python = release_python(requirement_range(built_project))
        numbered_as(python, version)
    else:
        python = release_python(f"=={version}")
    lowest, newest = releases_tested(built_project)

    with running_server(procfile_command(built_project, "web"), built_project, production_env(python), tmp_path / "gunicorn.log") as server:
        outcomes = [request(server.port, path) for path in ["/healthz", "/", "/readyz"] * 10]
        page = http_get(server.port, "/", VIA_HTTPS)
        log = server.log()

    assert f"Starting gunicorn {version}" in log
    assert (
        f"gunicorn {version} is outside the releases this project's server runtime was tested with ({lowest} to {newest}): "
        "using gunicorn's own access log and stop instead of this project's." in log
    )
    assert [outcome.status for outcome in outcomes] == [200] * 30
    assert page[0] == 200 and b"<html" in page[2]
    assert "Traceback" not in log
