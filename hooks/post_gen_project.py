"""Finish the new project, then prove it boots under gunicorn.

The boot check runs the project the way production does: DEBUG off, static
files collected, gunicorn started by the project's own start command (which
reads its gunicorn.conf.py) on a free loopback port. It requests /healthz, the landing page and a
hashed static file, then stops gunicorn with SIGTERM as platforms do.
"""

import atexit
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Cookiecutter runs this hook in the new project, so the commands below run there too.
PROJECT_DIR = Path.cwd()
DEPLOY_FILES = {
    "Docker": ({{ cookiecutter.deploy_docker }}, ["Dockerfile", ".dockerignore", "compose.yaml"]),
    "Heroku": ({{ cookiecutter.deploy_heroku }}, ["Procfile", "app.json"]),
    "Render": ({{ cookiecutter.deploy_render }}, ["render.yaml"]),
}
# The Sentry set-up and its tests, left out when the `sentry` answer is no.
SENTRY = ({{ cookiecutter.sentry }}, ["{{ cookiecutter.project_slug }}/plumbing/sentry.py", "tests/test_sentry.py"])
# The example task and its tests, with the background_tasks answer only.
BACKGROUND_TASK_FILES = ({{ cookiecutter.background_tasks }}, [
    "{{ cookiecutter.project_slug }}/tasks.py", "{{ cookiecutter.project_slug }}/plumbing/worker.py", "tests/test_tasks.py", "tests/test_worker.py",
])
RUN_BOOT_CHECK = {{ cookiecutter.boot_check }}
STARTUP_TIMEOUT_SECONDS = 60
# How often to try /healthz while gunicorn starts: often, since each try is cheap.
PROBE_INTERVAL_SECONDS = 0.05
# A page that takes longer than this to answer fails the check rather than hanging it.
REQUEST_TIMEOUT_SECONDS = 10
SHUTDOWN_TIMEOUT_SECONDS = 35


class BootCheckFailed(Exception):
    pass


def remove_unchosen_files():
    for chosen, names in [*DEPLOY_FILES.values(), SENTRY, BACKGROUND_TASK_FILES]:
        if not chosen:
            for name in names:
                (PROJECT_DIR / name).unlink()


def write_env_file():
    """Local development settings, with a secret key no one else has.
    .env is git-ignored and kept out of Docker images."""
    secret_key = secrets.token_urlsafe(50)
    env_file = PROJECT_DIR / ".env"
    env_file.write_text(
        "# Local development settings; .env.example lists every variable. Never commit this file.\n"
        "DJANGO_DEBUG=true\n"
        f"DJANGO_SECRET_KEY={secret_key}\n"
    )
    env_file.chmod(0o600)
    return secret_key


def step(message):
    print(f"  {message}", flush=True)


def uv_command():
    """uv on the PATH, or one pip installs for this bake (the machine may have only Python and pip)."""
    if shutil.which("uv"):
        return shutil.which("uv")
    tools = Path(tempfile.mkdtemp(prefix="boot-check-uv-"))
    atexit.register(shutil.rmtree, tools, ignore_errors=True)
    step("installing uv with pip, for this check only")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target", str(tools), "uv"],
        check=True, capture_output=True, text=True,
    )
    return str(tools / "bin" / "uv")


def python_with_requirements():
    """The project's own .venv, made by `uv sync --locked` from uv.lock; None when it cannot be made (offline)."""
    try:
        uv = uv_command()
        sync = [uv, "sync", "--locked", "--no-dev"]
        step("uv sync --locked --no-dev (the Python of .python-version)")
        synced = subprocess.run(sync, capture_output=True, text=True)
        if synced.returncode != 0:
            # uv fetches the Python .python-version names; where it cannot (no
            # network for Python builds), an installed one the project supports
            # shows just as well whether the project boots.
            python = installed_python()
            if python is None:
                return could_not_install(synced.stderr)
            step(f"that Python could not be had here; using {python}, which the project supports too")
            subprocess.run([*sync, "--python", python], check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as error:
        return could_not_install(error.stderr)
    return str(PROJECT_DIR / ".venv" / "bin" / "python")


def could_not_install(stderr):
    last_lines = "\n".join(stderr.strip().splitlines()[-5:])
    print(f"Could not install the project's dependencies (offline?):\n{last_lines}", file=sys.stderr)


def installed_python():
    """The newest interpreter on this machine that the project supports (requires-python), or None.

    Asked from outside the project, so that a version manager's shims do not
    answer with the .python-version the project asks for and this machine lacks.
    """
    floor = tuple(map(int, re.search(r'requires-python = ">=(\d+)\.(\d+)', (PROJECT_DIR / "pyproject.toml").read_text()).groups()))
    versioned_names = {path.name for directory in os.get_exec_path() for path in Path(directory).glob("python3.*")
                       if re.fullmatch(r"python3\.\d+", path.name)}
    candidates = [sys.executable, *filter(None, map(shutil.which, sorted(versioned_names)))]
    candidates += sorted(map(str, Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")).glob("versions/3.*/bin/python3")))
    found = {}
    for candidate in candidates:
        query = subprocess.run([candidate, "-c", "import sys; print(sys.executable, *sys.version_info[:2])"],
                               cwd=tempfile.gettempdir(), capture_output=True, text=True)
        if query.returncode == 0:
            executable, major, minor = query.stdout.split()
            found[(int(major), int(minor))] = executable
    supported = [version for version in found if version >= floor]
    return found[max(supported)] if supported else None


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def production_environment(secret_key):
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "PORT"}}
    env.update(
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secret_key,
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
    )
    return env


def run_manage(python, env, *args):
    result = subprocess.run([python, "manage.py", *args], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BootCheckFailed(f"`manage.py {' '.join(args)}` failed:\n{result.stdout}{result.stderr}")


def get(port, path, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_SECONDS)
    try:
        # Sent as the platform's TLS-terminating router would.
        connection.request("GET", path, headers={"X-Forwarded-Proto": "https", **(headers or {})})
        response = connection.getresponse()
        return response.status, response, response.read()
    finally:
        connection.close()


def get_page(port, path, headers=None):
    """get(), for a server already healthy: a page that does not answer in time fails the check."""
    try:
        return get(port, path, headers)
    except TimeoutError:
        raise BootCheckFailed(f"{path} did not answer within {REQUEST_TIMEOUT_SECONDS} s.") from None


def wait_until_healthy(server, port):
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise BootCheckFailed(f"gunicorn exited with code {server.returncode} before answering.")
        try:
            status, _, _ = get(port, "/healthz")
        except OSError:
            time.sleep(PROBE_INTERVAL_SECONDS)
            continue
        if status == 200:
            return
        raise BootCheckFailed(f"/healthz answered {status}, not 200.")
    raise BootCheckFailed(f"gunicorn did not answer /healthz within {STARTUP_TIMEOUT_SECONDS} s.")


def check_pages(port):
    status, _, body = get_page(port, "/")
    if status != 200:
        raise BootCheckFailed(f"the landing page answered {status}, not 200:\n{body[:500].decode(errors='replace')}")
    step("GET / -> 200")
    manifest = json.loads((PROJECT_DIR / "staticfiles" / "staticfiles.json").read_text())
    hashed_path = "/static/" + manifest["paths"]["css/site.css"]
    status, response, _ = get_page(port, hashed_path, {"Accept-Encoding": "gzip"})
    encoding = response.getheader("Content-Encoding")
    cache_control = response.getheader("Cache-Control") or ""
    if status != 200 or encoding != "gzip" or "immutable" not in cache_control:
        raise BootCheckFailed(
            f"{hashed_path} answered {status}, Content-Encoding {encoding!r}, Cache-Control {cache_control!r}; "
            "expected 200, gzip and an immutable cache header from WhiteNoise."
        )
    step(f"GET {hashed_path} -> 200, gzip, Cache-Control: {cache_control}")


def stop(server):
    """SIGTERM, as platforms stop a process; gunicorn must exit 0 within SHUTDOWN_TIMEOUT_SECONDS."""
    server.send_signal(signal.SIGTERM)
    try:
        exit_code = server.wait(timeout=SHUTDOWN_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
        raise BootCheckFailed(f"gunicorn did not stop within {SHUTDOWN_TIMEOUT_SECONDS} s of SIGTERM.") from None
    if exit_code != 0:
        raise BootCheckFailed(f"gunicorn exited with code {exit_code} after SIGTERM, not 0.")


def boot_check(python, secret_key):
    env = production_environment(secret_key)
    run_manage(python, env, "migrate", "--noinput")
    step("migrate (SQLite) -> ok")
    run_manage(python, env, "collectstatic", "--noinput")
    step("collectstatic -> ok")
    port = free_port()
    log_path = PROJECT_DIR / ".boot-check.log"
    with open(log_path, "w") as log:
        started = time.monotonic()
        server = subprocess.Popen(
            # The start command of the Procfile, Dockerfile and render.yaml.
            [python, "-m", "{{ cookiecutter.project_slug }}.plumbing.server", "--bind", f"127.0.0.1:{port}"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            wait_until_healthy(server, port)
            step(f"gunicorn answered GET /healthz -> 200 in {time.monotonic() - started:.2f} s")
            check_pages(port)
        except BaseException:
            server.kill()
            server.wait()
            raise
        finally:
            if server.poll() is None:
                stop(server)
                step("SIGTERM -> gunicorn exited cleanly (0)")
    log_path.unlink()


def main():
    remove_unchosen_files()
    secret_key = write_env_file()
    if not RUN_BOOT_CHECK:
        return
    started = time.monotonic()
    print("Boot check: running the new project under gunicorn, as in production.", flush=True)
    python = python_with_requirements()
    if python is None:
        print("Boot check skipped: the project is complete; run it once the requirements install.", file=sys.stderr)
        return
    try:
        boot_check(python, secret_key)
    except BootCheckFailed as failure:
        log_path = PROJECT_DIR / ".boot-check.log"
        log = log_path.read_text()[-3000:] if log_path.exists() else ""
        print(f"Boot check FAILED: {failure}\n\ngunicorn's output:\n{log}", file=sys.stderr)
        print("Unless --keep-project-on-failure was given, cookiecutter removes the project now; rerun with it to inspect.",
              file=sys.stderr)
        sys.exit(1)
    print(f"Boot check passed in {time.monotonic() - started:.1f} s.", flush=True)


if __name__ == "__main__":
    main()
