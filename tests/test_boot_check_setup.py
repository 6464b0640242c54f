"""How the boot check sets the project up before it starts gunicorn: which
Python it installs the project with, what it does offline, the environment and
port it runs the project with, how a failing manage.py command is reported,
and that each step is shown as it happens.

The post-generation hook, loaded in-process; stand-in uv and interpreters
(small scripts) answer as the real ones do in each situation. The real
installs and boots are test_boot_check.py's."""

import io
import os
import sys
from pathlib import Path

import pytest

# The interpreter running these tests, before any test stands another in for it.
REAL_PYTHON = Path(sys.executable).resolve()


def executable(path, script):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)
    return path


def interpreter(path, version, *, shim=False):
    """A stand-in Python of this version: it runs the code given with -c, as the real one
    would, and refuses anything else. A shim (as pyenv's or asdf's) fails instead where
    the working directory has a .python-version naming a version not installed."""
    major, minor = version.split(".")
    refuse_pinned = "import os; os.path.exists('.python-version') and sys.exit('version not installed')\n" if shim else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"#!{REAL_PYTHON}\nimport sys\n{refuse_pinned}"
        "sys.argv[1:2] == ['-c'] or sys.exit('usage: python -c CODE')\n"
        f"sys.executable, sys.version_info = {str(path)!r}, ({major}, {minor}, 0, 'final', 0)\n"
        "exec(sys.argv[2])\n"
    )
    path.chmod(0o755)
    return path


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """A machine whose only interpreters are the ones a test adds: to bin/ (on the PATH)
    or under a pyenv root. The hook's own interpreter stands for an old, unsupported one."""
    bin_dir = tmp_path / "machine" / "bin"
    bin_dir.mkdir(parents=True)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "machine" / "pyenv"))
    monkeypatch.setattr(sys, "executable", str(interpreter(tmp_path / "machine" / "hook-python", "3.9")))
    return tmp_path / "machine"


def requires_python(project_dir, floor):
    (project_dir / "pyproject.toml").write_text(f'[project]\nname = "my-service"\nrequires-python = ">={floor}"\n')


def test_the_newest_installed_interpreter_the_project_supports_is_chosen(post_gen_hook, machine, tmp_path):
    requires_python(tmp_path, "3.12")
    interpreter(machine / "bin" / "python3.11", "3.11")
    interpreter(machine / "bin" / "python3.12", "3.12")
    newest = interpreter(machine / "pyenv" / "versions" / "3.13.1" / "bin" / "python3", "3.13")
    executable(machine / "pyenv" / "versions" / "3.14.0" / "bin" / "python3", "exit 1")

    assert post_gen_hook.installed_python() == str(newest)


@pytest.mark.parametrize("version", ["3.12", "3.13", "3.25"], ids=["the-oldest-supported", "a-newer-one", "a-future-one"])
def test_an_interpreter_on_the_path_is_found_by_its_versioned_name(post_gen_hook, machine, tmp_path, version):
    requires_python(tmp_path, "3.12")
    on_path = interpreter(machine / "bin" / f"python{version}", version)
    # Not an interpreter, though its name starts like one.
    interpreter(machine / "bin" / "python3.30-config", "3.30")
    interpreter(machine / "pyenv" / "versions" / "3.11.4" / "bin" / "python3", "3.11")

    assert post_gen_hook.installed_python() == str(on_path)


def test_pyenvs_interpreters_are_found_in_its_default_root(post_gen_hook, machine, tmp_path, monkeypatch):
    requires_python(tmp_path, "3.12")
    monkeypatch.delenv("PYENV_ROOT")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    pyenv_python = interpreter(tmp_path / "home" / ".pyenv" / "versions" / "3.13.2" / "bin" / "python3", "3.13")

    assert post_gen_hook.installed_python() == str(pyenv_python)


def test_interpreters_are_asked_outside_the_project_so_a_version_shim_answers_for_itself(post_gen_hook, machine, tmp_path):
    """The project's .python-version names a Python this machine lacks (why the fallback
    runs at all); a shim asked from inside the project would fail for that reason."""
    requires_python(tmp_path, "3.12")
    (tmp_path / ".python-version").write_text("3.14\n")
    shim = interpreter(machine / "bin" / "python3.13", "3.13", shim=True)

    assert post_gen_hook.installed_python() == str(shim)


def test_no_interpreter_is_chosen_when_none_installed_is_supported(post_gen_hook, machine, tmp_path):
    requires_python(tmp_path, "3.12")
    interpreter(machine / "bin" / "python3.11", "3.11")
    interpreter(machine / "pyenv" / "versions" / "3.10.2" / "bin" / "python3", "3.10")

    assert post_gen_hook.installed_python() is None


def stand_in_uv(bin_dir, *, without_python_option, with_python_option):
    """uv on the PATH: `uv sync` exits with the first code unless given --python, then with the
    second; each call is appended to uv-calls.txt beside it."""
    calls = bin_dir / "uv-calls.txt"
    return executable(bin_dir / "uv", f"""echo "$@" >> {calls}
case " $* " in
  *" --python "*) code={with_python_option} ;;
  *) code={without_python_option} ;;
esac
[ "$code" = 0 ] || for line in 1 2 3 4 5 6; do echo "uv error line $line" >&2; done
exit $code"""), calls


def test_the_project_is_installed_with_the_python_its_python_version_names(post_gen_hook, machine, tmp_path, capsys):
    _, calls = stand_in_uv(machine / "bin", without_python_option=0, with_python_option=1)

    python = post_gen_hook.python_with_requirements()

    assert python == str(tmp_path / ".venv" / "bin" / "python")
    assert calls.read_text().splitlines() == ["sync --locked --no-dev"]
    assert capsys.readouterr().out == "  uv sync --locked --no-dev (the Python of .python-version)\n"


def test_where_that_python_cannot_be_had_an_installed_one_the_project_supports_is_used_and_named(
        post_gen_hook, machine, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(post_gen_hook, "installed_python", lambda: "/usr/local/bin/python3.13")
    _, calls = stand_in_uv(machine / "bin", without_python_option=2, with_python_option=0)

    python = post_gen_hook.python_with_requirements()

    assert python == str(tmp_path / ".venv" / "bin" / "python")
    assert calls.read_text().splitlines() == ["sync --locked --no-dev", "sync --locked --no-dev --python /usr/local/bin/python3.13"]
    assert capsys.readouterr().out.splitlines()[-1] == (
        "  that Python could not be had here; using /usr/local/bin/python3.13, which the project supports too"
    )


@pytest.mark.parametrize(
    ("installed", "with_python_option"), [(None, 0), ("/usr/local/bin/python3.13", 1)],
    ids=["no-supported-python-installed", "the-installed-one-fails-too"],
)
def test_offline_the_check_is_skipped_with_uvs_last_lines(post_gen_hook, machine, monkeypatch, capsys, installed, with_python_option):
    monkeypatch.setattr(post_gen_hook, "installed_python", lambda: installed)
    stand_in_uv(machine / "bin", without_python_option=2, with_python_option=with_python_option)

    assert post_gen_hook.python_with_requirements() is None
    # uv's last five lines: its reason, without the noise before it.
    assert capsys.readouterr().err.splitlines() == [
        "Could not install the project's dependencies (offline?):", *(f"uv error line {line}" for line in range(2, 7)),
    ]


def test_uv_on_the_path_is_used_as_it_is(post_gen_hook, machine):
    uv, _ = stand_in_uv(machine / "bin", without_python_option=0, with_python_option=0)

    assert post_gen_hook.uv_command() == str(uv)


def test_the_project_runs_with_production_settings_its_new_secret_key_and_sqlite(post_gen_hook, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://someone@db.example/app")
    monkeypatch.setenv("PORT", "5000")
    monkeypatch.setenv("DJANGO_DEBUG", "true")
    monkeypatch.setenv("HOME", "/home/someone")

    env = post_gen_hook.production_environment("the-new-key")

    assert {name: env.get(name) for name in ("DJANGO_DEBUG", "DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "DATABASE_URL", "PORT")} == {
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "the-new-key",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": None,
        "PORT": None,
    }
    # Everything else of the caller's environment is kept (PATH, HOME, proxies, uv's settings).
    assert {name: value for name, value in env.items() if not name.startswith("DJANGO_")} == {
        name: value for name, value in os.environ.items() if name not in {"DATABASE_URL", "PORT"} and not name.startswith("DJANGO_")
    }


@pytest.fixture
def manage_py(tmp_path):
    """A manage.py that prints the DJANGO_DEBUG it was given and a line to stderr,
    and exits with the code its last argument names."""
    (tmp_path / "manage.py").write_text(
        "import os, sys\n"
        "print('DJANGO_DEBUG=' + os.environ.get('DJANGO_DEBUG', ''))\n"
        "print('to stderr', file=sys.stderr)\n"
        "sys.exit(int(sys.argv[-1]))\n"
    )
    return str(REAL_PYTHON)


def test_a_failing_manage_py_command_fails_the_check_with_its_command_and_output(post_gen_hook, manage_py, monkeypatch):
    monkeypatch.setenv("DJANGO_DEBUG", "true")

    with pytest.raises(post_gen_hook.BootCheckFailed) as failure:
        post_gen_hook.run_manage(manage_py, {**os.environ, "DJANGO_DEBUG": "false"}, "migrate", "--noinput", "3")

    # Run in the environment given (production's), not the caller's.
    assert str(failure.value) == "`manage.py migrate --noinput 3` failed:\nDJANGO_DEBUG=false\nto stderr\n"


def test_a_manage_py_command_that_succeeds_passes(post_gen_hook, manage_py):
    post_gen_hook.run_manage(manage_py, {**os.environ}, "collectstatic", "--noinput", "0")


class Pipe(io.StringIO):
    """Standard output as a pipe (a CI log): what reached the reader at each flush."""

    def __init__(self):
        super().__init__()
        self.flushed = []

    def flush(self):
        self.flushed.append(self.getvalue())


def test_each_step_reaches_a_piped_output_as_it_happens(post_gen_hook, monkeypatch):
    """Not when the buffer fills: the next step (uv, migrate) can take a minute."""
    output = Pipe()
    monkeypatch.setattr(sys, "stdout", output)

    post_gen_hook.step("migrate (SQLite) -> ok")

    assert output.flushed[-1:] == ["  migrate (SQLite) -> ok\n"]


def test_the_port_for_gunicorn_is_one_the_kernel_hands_out_for_the_asking(post_gen_hook):
    """From the ephemeral range: never a well-known service's port, never one in use."""
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())

    assert low <= post_gen_hook.free_port() <= high
