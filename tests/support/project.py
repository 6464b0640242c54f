"""Bake projects, give them a virtualenv, and run them as users would."""

import json
import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from .network import free_port, wait_for_http_200

TEMPLATE_DIR = Path(__file__).resolve().parents[2]
# Variables that would change what a baked project does, if a developer's shell has them.
PROJECT_VARIABLES = (
    "DATABASE_URL", "PORT", "WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_WORKER_MEMORY_MB",
    "GUNICORN_CMD_ARGS", "FORWARDED_ALLOW_IPS", "DYNO", "RENDER", "EMAIL_URL",
)


UV = str(Path(sys.executable).parent / "uv")  # from the template's requirements-dev.txt


def uv_sync(project_dir, *options, environment=None, python=None):
    """`uv sync --locked` in a baked project, as its README says, with the
    Python its .python-version names; into `environment` if given, else the
    project's .venv. Returns that environment's python."""
    from .deploy import python_of_version

    python = python or python_of_version((Path(project_dir) / ".python-version").read_text().strip())
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    if environment:
        env["UV_PROJECT_ENVIRONMENT"] = str(environment)
    run([UV, "sync", "--locked", "--python", python, *options], project_dir, env)
    return Path(environment or Path(project_dir) / ".venv") / "bin" / "python"


def environment_without_project_variables():
    """This process's environment, less what would change a baked project's behaviour."""
    return {key: value for key, value in os.environ.items() if key not in PROJECT_VARIABLES and not key.startswith("DJANGO_")}


def production_env(venv_python, **overrides):
    """The environment of a production server: DEBUG off, a strong key, the venv first on PATH."""
    env = environment_without_project_variables()
    env.update(
        PATH=f"{Path(venv_python).parent}{os.pathsep}{env.get('PATH', '')}",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        # The tests read log lines as text; the generated suite reads production's JSON.
        DJANGO_LOG_FORMAT="text",
    )
    env.update(overrides)
    return env


def run(command, cwd, env, timeout=300):
    """Run a shell-style command and fail with its whole output if it fails."""
    result = subprocess.run(
        shlex.split(command) if isinstance(command, str) else command,
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )
    if result.returncode != 0:
        raise AssertionError(f"{command!r} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def hashed_static_path(project_dir, name):
    """The URL path collectstatic gave static file `name` (e.g. "css/site.css"), content hash included."""
    manifest = json.loads((Path(project_dir) / "staticfiles" / "staticfiles.json").read_text())
    return "/static/" + manifest["paths"][name]


def procfile_command(project_dir, process_type):
    for line in (Path(project_dir) / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process_type:
            return command.strip()
    raise LookupError(f"no {process_type!r} process in the Procfile")


class Server:
    def __init__(self, process, port, log_path):
        self.process = process
        self.port = port
        self.log_path = log_path

    def log(self):
        return Path(self.log_path).read_text(errors="replace")


@contextmanager
def running_server(command, project_dir, env, log_path, port=None, startup_timeout=60):
    """Start `command` in the project, bound to 127.0.0.1, wait for /healthz,
    and stop it by PID with SIGTERM at the end (SIGKILL if it hangs)."""
    port = port or free_port()
    # GUNICORN_CMD_ARGS binds gunicorn to loopback without changing the command under test.
    env = {**env, "PORT": str(port), "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{port} {env.get('GUNICORN_CMD_ARGS', '')}".strip()}
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            shlex.split(command), cwd=project_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    server = Server(process, port, log_path)
    try:
        wait_for_http_200(port, "/healthz", timeout=startup_timeout, process=process)
    except Exception as error:
        stop_server(process)
        raise AssertionError(f"{command!r} did not start: {error}\n{server.log()}") from None
    try:
        yield server
    finally:
        stop_server(process)


def stop_server(process, timeout=40):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def cookiecutter_command(python=sys.executable):
    return [str(python), "-m", "cookiecutter", str(TEMPLATE_DIR), "--no-input"]


def generated_suite(python, project_dir, env=None, timeout=600):
    """Run the baked project's own test suite; return pytest's output.

    A failure, an xfail or an xpass fails the calling test (the generated
    suite has none on purpose); a test the suite skips makes the calling test
    skip with its reason, which CI, where nothing may skip, does not accept.
    """
    result = subprocess.run([str(python), "-m", "pytest", "-q", "-rsxX", "-p", "no:cacheprovider"], cwd=project_dir, env=env,
                            capture_output=True, text=True, timeout=timeout)
    return judged_suite_output(result.returncode, result.stdout + result.stderr)


def judged_suite_output(returncode, output):
    """Fail or skip the calling test by what a run of the generated suite printed (see generated_suite)."""
    import pytest

    # pytest's last line: "147 passed in 16.86s", "1 failed, 146 passed in ...".
    summaries = re.findall(r"^=*\s*(\d+ \w+.* in [\d.]+s.*)$", output, re.MULTILINE)
    if returncode != 0 or not summaries or not re.search(r"\d+ passed", summaries[-1]) or re.search(r"\b\d+ failed", summaries[-1]):
        raise AssertionError(f"the generated suite did not pass (exit code {returncode}):\n{output[-8000:]}")
    unexpected = [line for line in output.splitlines() if line.startswith(("XFAIL", "XPASS"))]
    if unexpected:
        raise AssertionError("the generated suite has expected failures or unexpected passes:\n" + "\n".join(unexpected))
    skips = [line for line in output.splitlines() if line.startswith("SKIPPED")]
    if skips:
        pytest.skip("the generated test suite skipped tests here:\n" + "\n".join(skips))
    return output
