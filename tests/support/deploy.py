"""What the deploy tests share: the generated README's commands, the images
a Dockerfile builds from, a checkout as a platform gets it, an interpreter of
the project's Python version, the published schemas, and the numbers worth
printing at the end of a run."""

import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from .project import environment_without_project_variables

PYENV_VERSIONS = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
# The Pythons the tests bake and run projects with, in order of preference:
# any the generated project supports (Django 6.1 needs 3.12 or newer; 3.12 is
# Ubuntu 24.04's), 3.13 first, the one CI has.
TEST_PYTHON_VERSIONS = ("3.13", "3.12", "3.14")

# Printed by conftest.py at the end of the run: (what, value) pairs.
MEASUREMENTS = []


def record(what, value):
    MEASUREMENTS.append((what, value))
    print(f"{what}: {value}")


def readme_commands(project_dir, heading):
    """The commands of the ```sh blocks under the `## heading` or `### heading`
    of the project's README, one per entry, continuation lines joined, blocks in order."""
    readme = (Path(project_dir) / "README.md").read_text()
    match = re.search(rf"^#{{2,3}} {re.escape(heading)}\n(.*?)(?=^#{{1,3}} |\Z)", readme, re.MULTILINE | re.DOTALL)
    if match is None:
        raise LookupError(f"no '{heading}' section in the README")
    blocks = re.findall(r"^```sh\n(.*?)^```", match.group(1), re.MULTILINE | re.DOTALL)
    return [line for block in blocks for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def from_images(dockerfile):
    """The image each FROM line names (`FROM [--platform=...] image [AS stage]`), less earlier stages' names."""
    images, stages = [], set()
    for line in dockerfile.splitlines():
        words = line.split()
        if words[:1] and words[0].upper() == "FROM":
            image, *rest = [word for word in words[1:] if not word.startswith("--")]
            if image not in stages:
                images.append(image)
            if len(rest) == 2 and rest[0].upper() == "AS":
                stages.add(rest[1])
    return images


def git_checkout(project_dir, destination):
    """The project as a platform builds it: committed to git and cloned, so
    whatever .gitignore leaves out (.env, db.sqlite3, staticfiles/) is not there."""
    work = Path(destination).with_name(Path(destination).name + "-repo")
    shutil.copytree(project_dir, work, ignore=shutil.ignore_patterns(".venv"))
    git = ["git", "-c", "user.name=Template Tests", "-c", "user.email=tests@example.com", "-c", "init.defaultBranch=main"]
    for command in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "Deploy"]):
        subprocess.run([*git, *command], cwd=work, check=True, capture_output=True)
    subprocess.run([*git, "clone", "-q", str(work), str(destination)], check=True, capture_output=True)
    shutil.rmtree(Path(destination) / ".git")
    return Path(destination)


def find_python(version):
    """An interpreter of `version` (as platforms pick from .python-version): a
    pyenv build or pythonX.Y on PATH; None without one."""
    builds = sorted(PYENV_VERSIONS.glob(f"{version}.*/bin/python{version}"))
    return str(builds[-1]) if builds else shutil.which(f"python{version}")


def available_test_python_version():
    """The first of TEST_PYTHON_VERSIONS this machine has, or None."""
    return next((version for version in TEST_PYTHON_VERSIONS if find_python(version)), None)


def python_of_version(version):
    """find_python's interpreter. Without one the test skips, naming what it
    looked for; CI, where nothing may skip, then fails."""
    found = find_python(version)
    if not found:
        # The tests' own Python: any supported one would have done.
        wanted = TEST_PYTHON_VERSIONS if version in TEST_PYTHON_VERSIONS else (version,)
        names = ", ".join(f"python{each}" for each in wanted)
        pytest.skip(f"no Python {' or '.join(wanted)} on this machine (neither under {PYENV_VERSIONS} nor {names} on PATH)")
    return found


def clean_environment(venv_dir=None, **overrides):
    """The environment of a fresh build or dyno: none of this machine's
    project or Django variables, the venv (if any) first on PATH."""
    env = environment_without_project_variables()
    env.pop("VIRTUAL_ENV", None)
    if venv_dir is not None:
        env["PATH"] = f"{Path(venv_dir) / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(venv_dir)
    env.update(overrides)
    return env


def shell(command, cwd, env, timeout=600):
    """Run a command line as a platform does (`bash -c`); fail with its output."""
    result = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"{command!r} exited {result.returncode}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def schema(variable, url=None):
    """A published schema: the local copy named by `variable`, else `url` if
    it can be downloaded; skips (naming both) when neither is available."""
    path = os.environ.get(variable)
    if path:
        if not Path(path).is_file():
            raise FileNotFoundError(f"{variable}={path} names no file")
        return path
    if url:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                response.read(1)
            return url
        except OSError as error:
            pytest.skip(f"{url} could not be downloaded ({error}) and {variable} names no local copy")
    pytest.skip(f"{variable} is not set to a local copy of the schema (there is no official URL to download it from)")


def check_jsonschema(*args):
    """check-jsonschema from the template's requirements-dev.txt."""
    command = [str(Path(sys.executable).parent / "check-jsonschema"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def new_database(server_url, python):
    """A new, empty database on the server of `server_url`, and its URL: each
    deploy test migrates from nothing, whichever ran first. `python` needs psycopg."""
    name = f"deploy_{secrets.token_hex(4)}"
    subprocess.run(
        [str(python), "-c", "import sys, psycopg; psycopg.connect(sys.argv[1], autocommit=True).execute(f'CREATE DATABASE {sys.argv[2]}')", server_url, name],
        check=True, capture_output=True, timeout=60,
    )
    return urllib.parse.urlsplit(server_url)._replace(path=f"/{name}").geturl()


@contextmanager
def tls_on(server_url, python):
    """TLS on the throwaway PostgreSQL server of `server_url`, with a
    self-signed certificate, as Heroku Postgres has it (sslmode=require
    checks encryption, not the certificate); off again afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="template-tests-tls-"))
    cert, key = directory / "server.crt", directory / "server.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    key.chmod(0o600)
    if os.geteuid() == 0:  # the server runs as postgres
        for path in (directory, cert, key):
            shutil.chown(path, "postgres", "postgres")

    def configure(*statements):
        code = "import sys, psycopg\nwith psycopg.connect(sys.argv[1], autocommit=True) as c:\n    for s in sys.argv[2:]: c.execute(s)"
        subprocess.run([str(python), "-c", code, server_url, *statements, "SELECT pg_reload_conf()"], check=True, capture_output=True, timeout=60)

    configure(f"ALTER SYSTEM SET ssl_cert_file = '{cert}'", f"ALTER SYSTEM SET ssl_key_file = '{key}'", "ALTER SYSTEM SET ssl = on")
    try:
        yield
    finally:
        configure("ALTER SYSTEM RESET ssl", "ALTER SYSTEM RESET ssl_cert_file", "ALTER SYSTEM RESET ssl_key_file")
        shutil.rmtree(directory, ignore_errors=True)
