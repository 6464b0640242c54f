"""Heroku, for real but for the platform: a git checkout built the way the
Python buildpack builds it, then the Procfile run by honcho (a Procfile
runner like Heroku's own): the release process migrates PostgreSQL, web
serves on $PORT and stops cleanly on SIGTERM. Also app.json's CI script."""

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.deploy import clean_environment, git_checkout, new_database, readme_commands, shell, tls_on
from support.network import free_port, http_get, wait_for_http_200
from support.project import judged_suite_output, uv_sync

pytestmark = pytest.mark.slow

HONCHO = str(Path(sys.executable).parent / "honcho")
# No database at build time: a server that refuses connections.
UNREACHABLE_DATABASE = "postgres://nobody@127.0.0.1:9/none"


@pytest.fixture(scope="module")
def heroku_build(default_project, tmp_path_factory):
    """What `git push heroku main` builds: the committed files, the
    .python-version interpreter with the locked dependencies but no dev group
    (the buildpack's `uv sync --locked --no-default-groups`), and
    collectstatic run with no secret key and no reachable database."""
    checkout = git_checkout(default_project, tmp_path_factory.mktemp("heroku") / "app")
    venv_dir = checkout.parent / "venv"
    uv_sync(checkout, "--no-default-groups", environment=venv_dir)
    build_env = clean_environment(venv_dir, DATABASE_URL=UNREACHABLE_DATABASE)
    collectstatic = shell("python manage.py collectstatic --noinput", checkout, build_env)
    return checkout, venv_dir, collectstatic.stdout


def heroku_config_vars(project_dir):
    """The variables of the README's `heroku config:set` line, as Heroku would store them."""
    line = next(command for command in readme_commands(project_dir, "Heroku") if command.startswith("heroku config:set "))
    result = subprocess.run(["bash", "-c", f"printf '%s\\0' {line.removeprefix('heroku config:set ')}"], capture_output=True, text=True, check=True)
    return dict(item.split("=", 1) for item in result.stdout.split("\0") if item)


@pytest.fixture(scope="module")
def dyno_env(heroku_build, default_project, postgres_url):
    """A dyno's environment: the README's config vars, the add-on's DATABASE_URL
    (a new database, on a server that speaks TLS as Heroku Postgres does)."""
    _, venv_dir, _ = heroku_build
    config = heroku_config_vars(default_project)
    python = venv_dir / "bin" / "python"
    database_url = new_database(postgres_url, python)
    if os.environ.get("TEST_DATABASE_URL"):
        # A server of someone else's, which this cannot give TLS.
        yield clean_environment(venv_dir, **{**config, "DATABASE_SSL_REQUIRE": "false"}, DATABASE_URL=database_url, DYNO="web.1")
        return
    with tls_on(postgres_url, python):
        yield clean_environment(venv_dir, **config, DATABASE_URL=database_url, DYNO="web.1")


def honcho(*args):
    # Run in the checkout, honcho reads its Procfile (and .env, which a checkout has not).
    return [HONCHO, "--no-colour", *args]


def still_running(pid, grace=5):
    """Whether `pid` runs after `grace` seconds; an exited, unreaped orphan (a zombie) does not."""
    deadline = time.monotonic() + grace
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except FileNotFoundError:
            return False
        if state in ("Z", "X"):
            return False
        if time.monotonic() > deadline:
            return True
        time.sleep(0.1)


def test_the_buildpack_finds_one_package_manager_uv_and_the_chosen_python_version(heroku_build):
    """Heroku's Python buildpack installs a uv.lock app with uv, needs .python-version,
    and fails a build that has the files of two package managers."""
    checkout, _, _ = heroku_build
    other_managers = ["requirements.txt", "Pipfile", "Pipfile.lock", "poetry.lock", "runtime.txt"]

    assert (checkout / "uv.lock").is_file() and (checkout / "pyproject.toml").is_file()
    assert (checkout / ".python-version").read_text() == "3.13\n"
    assert [name for name in other_managers if (checkout / name).exists()] == []


def test_collectstatic_works_at_build_time_with_no_secret_key_and_no_database(heroku_build):
    checkout, _, output = heroku_build

    assert re.search(r"\d+ static files copied to '.*staticfiles', \d+ post-processed", output)
    manifest = json.loads((checkout / "staticfiles" / "staticfiles.json").read_text())
    assert re.fullmatch(r"css/site\.[0-9a-f]{12}\.css", manifest["paths"]["css/site.css"])
    assert not (checkout / ".env").exists()


def test_the_release_process_migrates_postgresql_through_database_url(heroku_build, dyno_env):
    checkout, _, _ = heroku_build

    result = subprocess.run(honcho("start", "release"), cwd=checkout, env=dyno_env, capture_output=True, text=True, timeout=300)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Applying auth.0001_initial... OK" in result.stdout
    assert "release.1 stopped (rc=0)" in result.stdout


def test_with_the_readmes_config_vars_the_dyno_reaches_postgresql_over_tls_only(heroku_build, dyno_env):
    if os.environ.get("TEST_DATABASE_URL"):
        pytest.skip("TEST_DATABASE_URL names a server these tests cannot give TLS")
    checkout, _, _ = heroku_build
    code = "from django.db import connection; connection.ensure_connection(); print(connection.connection.info.pgconn.ssl_in_use)"

    result = shell(f'python manage.py shell -c "{code}"', checkout, dyno_env)

    assert dyno_env["DATABASE_SSL_REQUIRE"] == "true"
    assert result.stdout.strip().splitlines()[-1] == "True"


def test_the_web_process_serves_on_port_then_stops_cleanly_on_sigterm(heroku_build, dyno_env, tmp_path):
    checkout, _, _ = heroku_build
    port = free_port()
    # Heroku routes to $PORT on every interface; here gunicorn binds it on loopback only.
    env = {**dyno_env, "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{port}"}
    log_path = tmp_path / "honcho.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(honcho("start", "--port", str(port), "web"), cwd=checkout, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_http_200(port, "/healthz", timeout=60, process=process)
        ready = http_get(port, "/readyz")
        # As Heroku's router sends a request for the app's herokuapp.com name.
        page = http_get(port, "/", {"Host": "my-service.herokuapp.com", "X-Forwarded-Proto": "https"})
    finally:
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        try:
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
        stopped_in = time.monotonic() - started
    output = log_path.read_text()

    gunicorn_pids = [int(pid) for pid in re.findall(r"Listening at: \S+ \((\d+)\)|Booting worker with pid: (\d+)", output) for pid in pid if pid]

    assert f"Listening at: http://127.0.0.1:{port}" in output
    assert (ready[0], ready[2]) == (200, b"ok")
    assert page[0] == 200, output
    # honcho runs the command through `sh -c`, which the signal ends (rc=-15);
    # gunicorn finishes its requests and exits 0, which it logs as a bare
    # "Shutting down" (a failure adds a "Reason:" line), and no process is left.
    assert "Shutting down: Master" in output, output
    assert "Reason:" not in output and "SIGKILL" not in output, output
    assert [pid for pid in gunicorn_pids if still_running(pid)] == []
    # Heroku sends SIGKILL 30 s after SIGTERM.
    assert stopped_in < 30


def test_app_json_test_script_runs_the_generated_suite_on_postgresql(heroku_build, default_project, postgres_url):
    """Heroku CI builds as a deploy does, but with the dev group (the buildpack's
    `uv sync --locked`), then runs environments.test.scripts.test, with the
    root env (a generated secret, the values) under the test environment's."""
    checkout, _, _ = heroku_build
    venv_dir = checkout.parent / "ci-venv"
    uv_sync(checkout, environment=venv_dir)
    app_json = json.loads((checkout / "app.json").read_text())
    test_environment = app_json["environments"]["test"]
    root_env = {
        name: secrets.token_hex(32) if spec.get("generator") == "secret" else spec["value"]
        for name, spec in app_json["env"].items()
    }
    database_url = new_database(postgres_url, venv_dir / "bin" / "python")
    env = clean_environment(venv_dir, **{**root_env, **test_environment["env"]}, DATABASE_URL=database_url)

    result = subprocess.run(["bash", "-c", test_environment["scripts"]["test"]], cwd=checkout, env=env, capture_output=True, text=True, timeout=600)

    judged_suite_output(result.returncode, result.stdout + result.stderr)
    assert "heroku-postgresql:in-dyno" in test_environment["addons"]
