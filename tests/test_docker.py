"""The generated Dockerfile and compose.yaml, built and run by a real Docker
engine with the generated README's own commands.

The engine is a private dockerd (support/docker_engine.py), one per test
session. No image can be pulled here, so `python:<version>-slim` and
`postgres:17` (and `redis:7`) are local stand-ins (Debian bookworm with this
machine's CPython; Debian's PostgreSQL and Redis), built once per session; the project's image
is built once, from the README's `docker build` line, and reused.
"""

import gzip
import json
import os
import re
import secrets
import shutil
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from conftest import with_fault_views
from support.deploy import readme_commands, record, shell
from support.docker_engine import DOCKER_CLIENT, DOCKERD, PYENV_VERSIONS, DockerEngine, ensure_python_base_image
from support.load import at_once
from support.network import free_port, http_get, wait_for_http_200
from support.project import UV

pytestmark = [pytest.mark.slow, pytest.mark.docker]

POSTGRES_IMAGE_DIR = Path(__file__).parent / "support" / "postgres_image"
REDIS_IMAGE_DIR = Path(__file__).parent / "support" / "redis_image"
# docker stop's default: SIGTERM, then SIGKILL this many seconds later.
STOP_TIMEOUT_SECONDS = 10
# Requests in flight when compose stops the app: each runs longer than that
# default, and shorter than gunicorn's graceful_timeout (25 s).
IN_FLIGHT_REQUESTS = 6
IN_FLIGHT_SECONDS = 15


def docker_unavailable_reason():
    if os.geteuid() != 0:
        return "the Docker tests run a private dockerd, which needs root"
    if not (Path(DOCKERD).exists() and Path(DOCKER_CLIENT).exists()):
        return f"Debian's docker.io is not installed ({DOCKERD}, {DOCKER_CLIENT})"
    if shutil.which("debootstrap") is None:
        return "debootstrap is not installed (it builds the stand-in python:<version>-slim image)"
    return None


@pytest.fixture(scope="session")
def docker_engine():
    reason = docker_unavailable_reason()
    if reason:
        pytest.skip(reason)
    with DockerEngine() as engine:
        yield engine


@pytest.fixture(scope="session")
def docker_env(docker_engine, tmp_path_factory):
    """The environment in which the README's `docker ...` lines reach the
    private engine: Debian's client first on PATH. Without the compose
    plugin (Debian 12 has none), `docker compose` runs Debian's
    docker-compose, the same commands in the older implementation."""
    bin_dir = tmp_path_factory.mktemp("docker-client")
    env = {
        **os.environ,
        "DOCKER_HOST": f"unix://{docker_engine.socket_path}",
        "DOCKER_BUILDKIT": "1",
        # docker-compose (v1) builds through the `docker` CLI, so with BuildKit and its cache.
        "COMPOSE_DOCKER_CLI_BUILD": "1",
        "DOCKER_CONFIG": str(docker_engine.root_dir / "client-config"),
    }
    env.pop("DOCKER_CONTEXT", None)
    has_plugin = subprocess.run([DOCKER_CLIENT, "compose", "version"], env=env, capture_output=True).returncode == 0
    env["TEST_COMPOSE"] = "plugin" if has_plugin else ("docker-compose" if shutil.which("docker-compose") else "")
    compose_line = "" if has_plugin else 'if [ "$1" = compose ]; then shift; exec docker-compose "$@"; fi\n'
    (bin_dir / "docker").write_text(f'#!/bin/sh\n{compose_line}exec {DOCKER_CLIENT} "$@"\n')
    (bin_dir / "docker").chmod(0o755)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return env


@pytest.fixture
def compose_env(docker_env):
    """docker_env for `docker compose`, without this shell's Django settings (compose would prefer them to .env)."""
    if not docker_env["TEST_COMPOSE"]:
        pytest.skip("neither the docker compose plugin nor Debian's docker-compose is installed")
    return {key: value for key, value in docker_env.items() if not key.startswith(("DJANGO_", "DATABASE_"))}


def docker(env, *args, check=True, timeout=300, cwd=None):
    result = subprocess.run(["docker", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def inspect(env, name, template):
    return json.loads(docker(env, "inspect", "--format", f"{{{{json {template}}}}}", name).stdout)


@pytest.fixture(scope="session")
def base_images(docker_engine, default_project, tmp_path_factory):
    """The stand-ins for python:<version>-slim and postgres:17 (see the module docstring)."""
    python_version = (default_project / ".python-version").read_text().strip()
    if not list(PYENV_VERSIONS.glob(f"{python_version}.*/bin/python{python_version}")):
        pytest.skip(f"no CPython {python_version} build under {PYENV_VERSIONS} to make the stand-in python:{python_version}-slim from")
    started = time.monotonic()
    python_image = ensure_python_base_image(docker_engine, python_version, tmp_path_factory.mktemp("docker-cache"))
    record("stand-in python base image built in", f"{time.monotonic() - started:.0f} s")
    postgres_image = yaml.safe_load((default_project / "compose.yaml").read_text())["services"]["db"]["image"]
    docker_engine.run_docker(
        "build", "--build-arg", f"BASE_IMAGE={python_image}-bookworm", "--tag", postgres_image, str(POSTGRES_IMAGE_DIR),
    )
    build_uv_image(docker_engine, default_project, tmp_path_factory.mktemp("uv-image"))
    return python_image, postgres_image


def build_uv_image(docker_engine, project_dir, context):
    """A stand-in for the uv image the Dockerfile copies uv from: the uv binary of the template's own tooling."""
    (uv_image,) = re.findall(r"^COPY --from=(\S+) /uv ", (project_dir / "Dockerfile").read_text(), re.MULTILINE)
    shutil.copy(UV, context / "uv")
    (context / "Dockerfile").write_text("FROM scratch\nCOPY uv /uv\n")
    docker_engine.run_docker("build", "--tag", uv_image, str(context))


def megabytes(size_bytes):
    return f"{size_bytes / 1e6:.0f} MB"


@pytest.fixture(scope="session")
def app_image_build(base_images, built_project, docker_env, tmp_path_factory):
    """The README's `docker build` line, run in the project, which by now has
    what a developer's checkout has and the image must leave out (.env,
    .venv/, db.sqlite3, staticfiles/, and a .git/ made here for the builds
    and removed after): cold, then again cached, then after a code change.
    Returns the image's tag and the names at the top of the build context."""
    build_line = next(command for command in readme_commands(built_project, "Docker") if command.startswith("docker build "))
    tag = build_line.split("-t ", 1)[1].split()[0]
    git_dir = built_project / ".git"
    made_git_dir = not git_dir.exists()
    if made_git_dir:
        subprocess.run(["git", "init", "--quiet"], cwd=built_project, check=True)
    try:
        context_names = {path.name for path in built_project.iterdir()}
        started = time.monotonic()
        shell(build_line, built_project, docker_env)
        cold = time.monotonic() - started
        started = time.monotonic()
        shell(build_line, built_project, docker_env)
        cached = time.monotonic() - started
        changed_project = tmp_path_factory.mktemp("changed") / built_project.name
        shutil.copytree(built_project, changed_project)
    finally:
        # Other tests use the project too, and a .git/ changes what some tools look at.
        if made_git_dir:
            shutil.rmtree(git_dir)
    with open(changed_project / built_project.name / "views.py", "a") as views:
        views.write("# a code change\n")
    started = time.monotonic()
    shell(f"docker build -t {tag}:code-change .", changed_project, docker_env)
    code_change = time.monotonic() - started
    docker(docker_env, "rmi", f"{tag}:code-change")

    size = inspect(docker_env, tag, ".Size")
    base_size = inspect(docker_env, base_images[0], ".Size")
    record("image size", f"{megabytes(size)} ({megabytes(size - base_size)} over the {megabytes(base_size)} stand-in base)")
    record("image build, cold (base image present)", f"{cold:.1f} s")
    record("image build, cached (nothing changed)", f"{cached:.1f} s")
    record("image build, after a code change", f"{code_change:.1f} s")
    return tag, context_names


@pytest.fixture(scope="session")
def app_image(app_image_build):
    """The tag of the image the README's `docker build` line built."""
    return app_image_build[0]


@pytest.fixture(scope="module")
def database_container(base_images, docker_env):
    """A PostgreSQL server that containers reach at its address, as the README's db-host."""
    _, postgres_image = base_images
    name = f"db-{secrets.token_hex(4)}"
    docker(docker_env, "run", "-d", "--rm", "--name", name, "-e", "POSTGRES_USER=app", "-e", "POSTGRES_PASSWORD=test-only", "-e", "POSTGRES_DB=app", postgres_image)
    try:
        deadline = time.monotonic() + 60
        while docker(docker_env, "exec", name, "pg_isready", "--host", "127.0.0.1", check=False).returncode != 0:
            assert time.monotonic() < deadline, docker(docker_env, "logs", name).stdout
            time.sleep(0.5)
        address = inspect(docker_env, name, ".NetworkSettings.IPAddress")
        yield f"postgres://app:test-only@{address}:5432/app"
    finally:
        docker(docker_env, "stop", name, check=False)


@pytest.fixture(scope="module")
def readme_env(app_image, built_project, docker_env, database_container):
    """The shell after the README's `export` lines, DATABASE_URL pointed at the test's server."""
    exports = "\n".join(command for command in readme_commands(built_project, "Docker") if command.startswith("export "))
    dump = shell(f"{exports}\nenv -0", built_project, docker_env).stdout
    env = dict(item.split("=", 1) for item in dump.split("\0") if "=" in item)
    assert env["DATABASE_URL"].startswith("postgres://user:password@db-host:5432/")
    return {**env, "DATABASE_URL": database_container}


def readme_run_lines(project_dir):
    runs = [command for command in readme_commands(project_dir, "Docker") if command.startswith("docker run ")]
    migrate = next(command for command in runs if "migrate" in command)
    server = next(command for command in runs if "-p 8000:8000" in command)
    return migrate, server


@pytest.fixture(scope="module")
def migrated(readme_env, built_project):
    migrate_line, _ = readme_run_lines(built_project)
    return shell(migrate_line, built_project, readme_env)


class Container:
    def __init__(self, process, port, log_path, env):
        self.process, self.port, self.log_path, self.env = process, port, log_path, env
        self.id = None

    def log(self):
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def container(migrated, readme_env, built_project, tmp_path_factory):
    """The README's `docker run -p 8000:8000 ...` line, on a free port instead of 8000."""
    _, server_line = readme_run_lines(built_project)
    port = free_port()
    log_path = tmp_path_factory.mktemp("container") / "docker-run.log"
    with open(log_path, "w") as log:
        started = time.monotonic()
        process = subprocess.Popen(
            ["bash", "-c", server_line.replace("-p 8000:8000", f"-p {port}:8000")],
            cwd=built_project, env=readme_env, stdout=log, stderr=subprocess.STDOUT,
        )
    running = Container(process, port, log_path, readme_env)
    try:
        wait_for_http_200(port, "/healthz", timeout=120, process=process)
        first_200_at, first_200_after = time.time(), time.monotonic() - started
        running.id = docker(readme_env, "ps", "--quiet", "--filter", f"publish={port}").stdout.strip()
        assert running.id, "no running container publishes the port"
        # Docker's timestamps have nanoseconds; datetime takes microseconds.
        started_at = re.sub(r"(\.\d{6})\d*", r"\1", inspect(readme_env, running.id, ".State.StartedAt")).replace("Z", "+00:00")
        from_process_start = first_200_at - datetime.fromisoformat(started_at).timestamp()
        record("time to first 200 on /healthz", f"{first_200_after:.2f} s from `docker run` ({from_process_start:.2f} s from the container's process start)")
        yield running
    finally:
        if process.poll() is None:
            docker(readme_env, "stop", running.id or "", check=False)
            process.wait(timeout=60)


def test_the_readme_build_command_builds_an_image_that_runs_as_user_10001(app_image, docker_env):
    config = inspect(docker_env, app_image, ".Config")

    assert config["User"] == "10001:10001"
    assert config["Cmd"] == ["python", "-m", "my_service.plumbing.server"]
    assert config["ExposedPorts"] == {"8000/tcp": {}}


# In the build context, kept out of the image by .dockerignore: the secrets
# file, the local state a checkout has (virtualenv, SQLite database, git
# history), and files the image has no use for (CI and pre-commit config),
# which would otherwise also make a change to them rebuild the image.
LEFT_OUT_OF_THE_IMAGE = {".env", ".venv", "db.sqlite3", ".git", ".github", ".pre-commit-config.yaml"}


def test_the_image_leaves_out_env_and_local_state_and_has_static_files_built_in(app_image_build, docker_env):
    app_image, context_names = app_image_build
    listing = docker(docker_env, "run", "--rm", app_image, "python", "-c", "import os; print('\\n'.join(sorted(os.listdir('/app'))))").stdout.split()
    manifest = json.loads(docker(docker_env, "run", "--rm", app_image, "cat", "/app/staticfiles/staticfiles.json").stdout)

    # The build context had them all: the baked files, a git checkout's .git, and what the build steps made.
    assert LEFT_OUT_OF_THE_IMAGE | {"staticfiles"} <= context_names
    assert sorted(LEFT_OUT_OF_THE_IMAGE & set(listing)) == []
    assert "manage.py" in listing
    assert "css/site.css" in manifest["paths"]


def test_the_image_carries_neither_uv_nor_its_cache_nor_the_dev_dependencies(app_image, docker_env):
    probe = (
        "import importlib.util, os, shutil; "
        "print(shutil.which('uv'), os.path.exists('/root/.cache/uv'), "
        "*(importlib.util.find_spec(name) is not None for name in ('pytest', 'ruff', 'gunicorn', 'django')))"
    )
    found = docker(docker_env, "run", "--rm", "--user", "0", app_image, "python", "-c", probe).stdout.split()

    assert found == ["None", "False", "False", "False", "True", "True"]


def test_without_a_secret_key_the_container_stops_with_a_line_naming_it(app_image, docker_env):
    result = docker(docker_env, "run", "--rm", "-e", "DJANGO_ALLOWED_HOSTS=localhost", app_image, check=False, timeout=120)

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        ("DJANGO_LOG_LEVEL", "LOUD", "DJANGO_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'LOUD'."),
        ("DJANGO_SECURE_HSTS_SECONDS", "a-day", "DJANGO_SECURE_HSTS_SECONDS must be a whole number of at least 0, got 'a-day'."),
        ("DJANGO_CSRF_TRUSTED_ORIGINS", "admin.example.com", "DJANGO_CSRF_TRUSTED_ORIGINS must list origins with their scheme"),
        ("WEB_CONCURRENCY", "two", "WEB_CONCURRENCY must be a positive whole number of worker processes, got 'two'"),
        ("PORT", "http", "PORT must be a port number from 1 to 65535, got 'http'"),
    ],
    ids=["log-level", "hsts-seconds", "csrf-origins", "web-concurrency", "port"],
)
def test_a_malformed_variable_stops_the_container_with_one_line_naming_it(app_image, docker_env, variable, value, line):
    result = docker(
        docker_env, "run", "--rm", "-e", "DJANGO_ALLOWED_HOSTS=localhost", "-e", f"DJANGO_SECRET_KEY={secrets.token_urlsafe(50)}",
        "-e", f"{variable}={value}", app_image, check=False, timeout=120,
    )
    output = (result.stdout + result.stderr).strip().splitlines()

    assert result.returncode != 0
    assert len(output) == 1 and output[0].startswith(line), output


def test_the_readme_migrate_command_migrates_postgresql(migrated):
    assert "Applying auth.0001_initial... OK" in migrated.stdout


def test_the_container_serves_health_readiness_and_the_landing_page(container):
    ready = http_get(container.port, "/readyz")
    # What a browser at http://localhost:8000 sends.
    page = http_get(container.port, "/", {"Host": f"localhost:{container.port}"})

    assert http_get(container.port, "/healthz")[0] == 200
    assert (ready[0], ready[2]) == (200, b"ok"), container.log()
    assert page[0] == 200, container.log()
    assert page[1]["content-type"] == "text/html; charset=utf-8"


def test_a_hashed_static_file_is_served_from_the_image_compressed_and_immutable(container, app_image):
    page = http_get(container.port, "/", {"Host": "localhost"})[2].decode()
    stylesheet = re.search(r'href="(/static/css/site\.[0-9a-f]{12}\.css)"', page).group(1)
    original = docker(container.env, "exec", container.id, "cat", f"/app/staticfiles{stylesheet.removeprefix('/static')}").stdout.encode()

    status, headers, body = http_get(container.port, stylesheet, {"Host": "localhost", "Accept-Encoding": "gzip"})

    assert status == 200
    assert headers["content-encoding"] == "gzip"
    assert headers["cache-control"] == "max-age=315360000, public, immutable"
    assert gzip.decompress(body) == original


def test_every_process_in_the_container_runs_as_user_10001(container):
    statuses = docker(container.env, "exec", container.id, "sh", "-c", "grep -H '^Uid:' /proc/[0-9]*/status").stdout
    uids = {path.split("/")[2]: line.split()[1:] for path, _, line in (entry.partition(":") for entry in statuses.splitlines())}

    assert uids["1"] == ["10001"] * 4  # gunicorn's master: real, effective, saved, filesystem
    assert {uid for ids in uids.values() for uid in ids} == {"10001"}
    assert len(uids) >= 3  # the master and its workers (and this grep)


def test_the_images_healthcheck_reports_healthy(container):
    """The image's own HEALTHCHECK, timings untouched: the first probe runs one interval after start."""
    healthcheck = inspect(container.env, container.id, ".Config.Healthcheck")
    deadline = time.monotonic() + healthcheck["Interval"] / 1e9 + healthcheck["Timeout"] / 1e9 + 30
    while (health := inspect(container.env, container.id, ".State.Health"))["Status"] != "healthy":
        assert health["Status"] == "starting" and time.monotonic() < deadline, health
        time.sleep(1)

    assert "/healthz" in " ".join(healthcheck["Test"])
    assert health["Log"][-1]["ExitCode"] == 0


def test_docker_stop_ends_the_container_cleanly_within_the_stop_timeout(container):
    # docker stop signals PID 1 only: the start command must have become gunicorn's master (no shell or wrapper left in between).
    pid_1_argv = docker(container.env, "exec", container.id, "cat", "/proc/1/cmdline").stdout.split("\0")
    parents = docker(container.env, "exec", container.id, "sh", "-c", "grep -H '^PPid:' /proc/[0-9]*/status").stdout
    children_of_pid_1 = [entry.split("/")[2] for entry in parents.splitlines() if entry.split()[-1] == "1"]
    # The README's `--stop-timeout`: docker stop waits past gunicorn's graceful_timeout (25 s) before killing it.
    stop_timeout = inspect(container.env, container.id, ".Config.StopTimeout")
    started = time.monotonic()
    docker(container.env, "stop", container.id)
    stopped_in = time.monotonic() - started
    # The README's `docker run --rm` exits with the container's exit code.
    exit_code = container.process.wait(timeout=30)

    assert "gunicorn" in [Path(arg).name for arg in pid_1_argv[:3]], pid_1_argv  # python -m gunicorn, or a gunicorn script
    assert children_of_pid_1, parents  # its workers
    assert exit_code == 0, container.log()
    assert stopped_in < STOP_TIMEOUT_SECONDS
    assert stop_timeout == 30
    assert "Shutting down: Master" in container.log()
    record("docker stop took", f"{stopped_in:.1f} s")


def test_compose_config_accepts_compose_yaml_with_the_secret_key_from_env(built_project, compose_env):
    env_file_key = re.search(r"^DJANGO_SECRET_KEY=(.+)$", (built_project / ".env").read_text(), re.MULTILINE).group(1)

    result = docker(compose_env, "compose", "config", cwd=built_project)
    services = yaml.safe_load(result.stdout)["services"]

    assert services["web"]["environment"]["DJANGO_SECRET_KEY"] == env_file_key
    assert services["web"]["environment"]["DATABASE_URL"].startswith("postgres://app:local-only@db:5432/")
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"


def test_compose_without_a_secret_key_stops_with_a_message_saying_where_to_set_it(built_project, compose_env, tmp_path):
    project = tmp_path / built_project.name
    shutil.copytree(built_project, project, ignore=shutil.ignore_patterns(".env"))

    result = docker(compose_env, "compose", "config", check=False, cwd=project)

    assert result.returncode != 0
    assert "set DJANGO_SECRET_KEY in .env or the shell" in result.stderr


def test_the_readme_compose_commands_run_migrations_web_and_postgresql_and_stop_without_failing_a_request(
    base_images, app_image, built_project, compose_env, tmp_path, tmp_path_factory,
):
    """`docker compose down` while requests to a slow view are in flight:
    each takes longer than Docker's default stop timeout, so only the
    stop_grace_period of compose.yaml lets gunicorn finish them."""
    project = with_fault_views(built_project, tmp_path_factory)
    shutil.copy(built_project / ".env", project / ".env")  # the secret key compose reads
    up_line, down_line = readme_commands(project, "Docker")[-2:]
    assert (up_line, down_line) == ("docker compose up --build", "docker compose down")
    port = free_port()
    env = {**compose_env, "WEB_PORT": str(port)}
    log_path = tmp_path / "compose-up.log"
    slow_path = f"/faults/slow?seconds={IN_FLIGHT_SECONDS}"
    with open(log_path, "w") as log:
        up = subprocess.Popen(["bash", "-c", up_line], cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_http_200(port, "/readyz", timeout=180, process=up)
        page = http_get(port, "/", {"Host": "localhost"})
        in_flight = []
        senders = threading.Thread(target=lambda: in_flight.extend(at_once(port, [slow_path] * IN_FLIGHT_REQUESTS)))
        senders.start()
        time.sleep(2)  # every request sent and in its view
    finally:
        stopping = time.monotonic()
        down = subprocess.run(["bash", "-c", down_line], cwd=project, env=env, capture_output=True, text=True, timeout=120)
        down_took = time.monotonic() - stopping
        up_exit = up.wait(timeout=60)
    senders.join(timeout=60)
    output = log_path.read_text(errors="replace")

    assert page[0] == 200, output
    assert "Applying auth.0001_initial... OK" in output
    assert down.returncode == 0, down.stdout + down.stderr
    assert up_exit == 0, output
    assert docker(env, "ps", "--all", "--quiet", "--filter", f"label=com.docker.compose.project={project.name}").stdout == ""
    assert [(outcome.status, outcome.error) for outcome in in_flight] == [(200, None)] * IN_FLIGHT_REQUESTS, output
    assert down_took > STOP_TIMEOUT_SECONDS  # the requests outlived Docker's default
    record(f"docker compose down with {IN_FLIGHT_REQUESTS} requests in flight", f"{down_took:.1f} s, none failed")


def test_with_the_redis_and_background_tasks_answers_compose_runs_redis_and_a_worker(base_images, tasks_redis_project, compose_env, docker_engine, tmp_path):
    """Redis: the app caches in it. The worker: a task enqueued through the web service is run by the
    worker service, from the same image (the project gets the tests' task views, before the build)."""
    project = tmp_path / tasks_redis_project.name
    shutil.copytree(tasks_redis_project, project, ignore=shutil.ignore_patterns("__pycache__", ".venv", "staticfiles", "db.sqlite3"))
    shutil.copy(Path(__file__).parent / "support" / "task_views.py", project / project.name / "task_views.py")
    with open(project / project.name / "urls.py", "a") as urls:
        urls.write("\nfrom . import task_views  # added by the template's tests\n\nurlpatterns += task_views.urlpatterns\n")
    python_image, _ = base_images
    redis_image = yaml.safe_load((project / "compose.yaml").read_text())["services"]["cache"]["image"]
    docker_engine.run_docker("build", "--build-arg", f"BASE_IMAGE={python_image}-bookworm", "--tag", redis_image, str(REDIS_IMAGE_DIR))
    port = free_port()
    env = {**compose_env, "WEB_PORT": str(port)}
    log_path = tmp_path / "compose-up.log"
    with open(log_path, "w") as log:
        up = subprocess.Popen(["docker", "compose", "up", "--build"], cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_http_200(port, "/readyz", timeout=180, process=up)
        cache = "from django.core.cache import caches; cache = caches['default']; "
        stored = docker(env, "compose", "exec", "-T", "web", "python", "manage.py", "shell", "-c",
                        cache + "cache.set('greeting', 'shared', 60); print(type(cache).__name__)", cwd=project)
        read = docker(env, "compose", "exec", "-T", "web", "python", "manage.py", "shell", "-c",
                      cache + "print(cache.get('greeting'))", cwd=project)
        enqueued = http_get(port, "/tasks/enqueue?marker=in-compose", headers={"X-Forwarded-Proto": "https"})
        task_id = json.loads(enqueued[2])["id"]
        status = "READY"
        deadline = time.monotonic() + 60
        while status in ("READY", "RUNNING") and time.monotonic() < deadline:
            time.sleep(0.5)
            status = docker(env, "compose", "exec", "-T", "web", "python", "manage.py", "shell", "-c",
                            f"from django_tasks_db.models import DBTaskResult; r = DBTaskResult.objects.get(id='{task_id}');"
                            " print(r.status, r.return_value)", cwd=project).stdout.strip().splitlines()[-1]
        docker(env, "compose", "stop", "worker", cwd=project, timeout=120)
        worker_log = docker(env, "compose", "logs", "worker", cwd=project).stdout
    finally:
        docker(env, "compose", "down", cwd=project, timeout=120)
        up.wait(timeout=60)

    # Two processes of the web container: what one stored, the other read, through the cache service.
    assert stored.stdout.strip().splitlines()[-1] == "RedisCache"
    assert read.stdout.strip().splitlines()[-1] == "shared"
    # Enqueued by the web container on commit, run and recorded by the worker container, which stops on SIGTERM.
    assert status == "SUCCESSFUL in-compose", log_path.read_text(errors="replace")
    assert "Starting worker" in worker_log and "shutting down gracefully" in worker_log, worker_log
