"""Mutation testing of the generated project's own modules, against its own suite.

    .venv/bin/python mutation/run.py [--keep DIR]

Bakes the default project (boot check off, Python 3.13 as the template's
tests do), installs it with `uv sync --locked` plus mutmut, and runs mutmut
over the modules named in MUTATE against the generated tests/. Prints the
score and every mutant that no test killed, with its diff, and exits 1 if
the score is below TARGET or if a surviving mutant is not listed in
equivalent_mutants.toml (beside this file) with the reason it is equivalent.

What mutmut 3 mutates: the bodies of functions and methods (it swaps each
function for a trampoline that calls the original or a mutant). Module-level
code is not mutated: most of settings.py and gunicorn.conf.py (which is not
importable as a module at all) is therefore outside this measure, and so is
plumbing/server/__main__.py (run as `python -m`, its module is __main__, which
mutmut's trampolines never take for theirs); their
logic that lives in functions (plumbing/environment.py, plumbing/checks.py, plumbing/server/sizing.py,
plumbing/server/connection_budget.py, ...) is inside it.

The generated suite checks start-up, settings and the server in fresh
interpreters; subprocess_mutants.py carries the mutant into them.
Everything happens in a temporary copy: nothing about mutation testing is
added to the generated project itself.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATE_DIR = HERE.parent
TARGET = 0.90
PYTHON_VERSION = "3.13"
# mutmut 3.8.1: the newest release; 3.x runs each mutant in a forked worker
# with only the tests that reach the mutated function, fast enough for CI.
MUTMUT = "mutmut==3.8.1"
SLUG = "my_service"
MUTATE = [
    f"{SLUG}/plumbing/checks.py",
    f"{SLUG}/plumbing/database.py",
    f"{SLUG}/plumbing/environment.py",
    f"{SLUG}/plumbing/health.py",
    f"{SLUG}/plumbing/logs.py",
    f"{SLUG}/plumbing/request_id.py",
    f"{SLUG}/plumbing/sentry.py",
    f"{SLUG}/plumbing/server/*",
    f"{SLUG}/plumbing/sessions.py",
    f"{SLUG}/plumbing/worker.py",
]
# Modules whose functions are credited with the tests that reach them only
# in a process those tests start (settings imported in a fresh interpreter,
# the server under gunicorn). The others have tests of their own in-process;
# crediting them too would run a server or a fresh import per test of each
# of their mutants, far past the time CI has.
SUBPROCESS_MODULES = [f"{SLUG}.plumbing.checks.", f"{SLUG}.plumbing.environment.", f"{SLUG}.plumbing.server.connection_budget.", f"{SLUG}.plumbing.server.watchdog.",
                      f"{SLUG}.plumbing.worker."]
# Killed: a test failed, or the mutant hung past its time limit (timeout) or
# was killed by it (mutmut reports that as a segfault).
DETECTED = {"killed", "timeout", "segfault", "caught by type check"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="bake into this directory and leave it there (to rerun mutmut by hand)")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--results-of", type=Path, metavar="PROJECT",
                        help="only judge the results of an earlier run kept in PROJECT (the baked project's directory)")
    args = parser.parse_args()
    started = time.monotonic()
    if args.results_of:
        project = args.results_of.resolve()
        return judge(mutant_statuses(project), project, str(project / ".venv" / "bin" / "mutmut"), mutmut_env())
    code = in_workdir(args.keep, "mutation-", mutation_test, args.max_children)
    print(f"Mutation testing took {time.monotonic() - started:.0f} s.")
    return code


def in_workdir(keep, prefix, mutation_test, max_children):
    """mutation_test(workdir, max_children) in `keep`, left there to rerun mutmut by hand, or in a temporary directory."""
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
        return mutation_test(keep.resolve(), max_children)
    with tempfile.TemporaryDirectory(prefix=prefix) as workdir:
        return mutation_test(Path(workdir), max_children)


def mutation_test(workdir, max_children):
    project = bake(workdir)
    python = install(project)
    configure(project, python)
    mutmut = str(Path(python).parent / "mutmut")
    env = mutmut_env()
    print(f"Running mutmut over {', '.join(MUTATE)} ({max_children} at a time)", flush=True)
    result = subprocess.run([mutmut, "run", "--max-children", str(max_children)], cwd=project, env=env,
                            capture_output=True, text=True)
    # mutmut redraws a progress line; keep only its last state.
    output = re.sub(r"[^\n]*\r", "", (result.stdout + result.stderr).replace("\x1b[2K", ""))
    if result.returncode != 0:
        print(output[-6000:])
        print(f"mutmut run exited {result.returncode}")
        return 1
    statuses = mutant_statuses(project)
    return judge(statuses, project, mutmut, env)


def mutmut_env():
    """This process's environment, less what would change the baked project's behaviour or mutmut's."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "MUTANT_", "MUTMUT_"))}
    for variable in ("DATABASE_URL", "REDIS_URL", "PORT", "WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_CMD_ARGS",
                     "GUNICORN_WORKER_MEMORY_MB", "FORWARDED_ALLOW_IPS", "DYNO", "RENDER", "DATABASE_MAX_CONNECTIONS",
                     "VIRTUAL_ENV"):
        env.pop(variable, None)
    env["MUTMUT_SUBPROCESS_MODULES"] = ",".join(SUBPROCESS_MODULES)
    return env


def bake(workdir):
    from cookiecutter.main import cookiecutter

    out = cookiecutter(str(TEMPLATE_DIR), no_input=True, output_dir=str(workdir), overwrite_if_exists=True,
                       # With background tasks: their plumbing comes on top of every other project's.
                       extra_context={"boot_check": False, "python_version": PYTHON_VERSION, "project_name": "My Service",
                                      "background_tasks": True})
    return Path(out)


def install(project):
    uv = str(Path(sys.executable).parent / "uv")
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    builds = sorted(pyenv.glob(f"{PYTHON_VERSION}.*/bin/python{PYTHON_VERSION}"))
    interpreter = str(builds[-1]) if builds else shutil.which(f"python{PYTHON_VERSION}")
    if not interpreter:
        sys.exit(f"no Python {PYTHON_VERSION} on this machine (neither under {pyenv} nor python{PYTHON_VERSION} on PATH)")
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)
    subprocess.run([uv, "sync", "--locked", "--quiet", "--python", interpreter], cwd=project, env=env, check=True)
    python = project / ".venv" / "bin" / "python"
    subprocess.run([uv, "pip", "install", "--quiet", "--python", str(python), MUTMUT], cwd=project, env=env, check=True)
    return python


def configure(project, python):
    """mutmut's settings and the subprocess helper, in the baked copy only."""
    site_packages = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                        capture_output=True, text=True, check=True).stdout.strip())
    shutil.copy(HERE / "subprocess_mutants.py", site_packages / "subprocess_mutants.py")
    (site_packages / "subprocess_mutants.pth").write_text(
        "import os; os.environ.get('MUTMUT_SUBPROCESS_HITS') and __import__('subprocess_mutants')\n"
    )
    with open(project / "pyproject.toml", "a") as pyproject:
        pyproject.write(
            "\n[tool.mutmut]\n"
            f'source_paths = ["{SLUG}"]\n'
            f"only_mutate = {json.dumps(MUTATE)}\n"
            # Run as `python -m`, it is the module __main__, which mutmut's trampolines never match.
            f'do_not_mutate = ["{SLUG}/plumbing/server/__main__.py"]\n'
            # What the suite reads beside the package when it starts the project, and the apps beside it.
            'also_copy = ["gunicorn.conf.py", "manage.py", "templates", "static", ".env", "accounts"]\n'
            'pytest_add_cli_args_test_selection = ["tests"]\n'
            'pytest_add_cli_args = ["-p", "subprocess_mutants", "-p", "no:cacheprovider"]\n'
        )


def mutant_statuses(project):
    """{mutant name: status} from mutmut's result files."""
    from_exit_code = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 2: "check was interrupted by user",
                      None: "not checked", 33: "no tests", 34: "skipped", 35: "suspicious", 36: "timeout",
                      37: "caught by type check", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout",
                      -11: "segfault", -9: "segfault"}
    statuses = {}
    for meta in sorted((project / "mutants").rglob("*.py.meta")):
        for name, exit_code in json.loads(meta.read_text())["exit_code_by_key"].items():
            statuses[name] = from_exit_code.get(exit_code, "suspicious")
    return statuses


def judge(statuses, project, mutmut, env, equivalents=HERE / "equivalent_mutants.toml"):
    total = len(statuses)
    detected = sum(status in DETECTED for status in statuses.values())
    score = detected / total if total else 0.0
    listed = load_equivalent(equivalents)
    undetected = {name: status for name, status in statuses.items() if status not in DETECTED}
    by_status = {}
    for status in statuses.values():
        by_status[status] = by_status.get(status, 0) + 1
    print(f"{total} mutants: " + ", ".join(f"{count} {status}" for status, count in sorted(by_status.items())))

    unexplained, equivalent, matched = [], [], set()
    diffs = mutant_diffs(project, mutmut, env, sorted(undetected))
    for name, status in sorted(undetected.items()):
        diff = diffs[name]
        key = (function_of(name), changed_lines(diff))
        entry = listed.get(key)
        if entry:
            equivalent.append((name, entry["reason"]))
            matched.add(key)
        else:
            unexplained.append((name, status, diff))
    stale = sorted(f"{function}: {mutation}" for function, mutation in set(listed) - matched)

    print(f"\nSurviving mutants listed as equivalent ({len(equivalent)}):")
    for name, reason in equivalent:
        print(f"  {name}: {reason}")
    if unexplained:
        print(f"\nSurviving mutants neither killed nor listed in {HERE.name}/{equivalents.name} ({len(unexplained)}):")
        for name, status, diff in unexplained:
            print(f"\n{name} ({status})\n{diff}")
    if stale:
        print("\nListed as equivalent but not (or no longer this mutation) surviving; update the list:", *stale, sep="\n  ")
    print(f"\nMutation score: {detected}/{total} = {score:.1%} killed (target {TARGET:.0%}); "
          f"{len(equivalent)} equivalent survivors listed, {len(unexplained)} unexplained.")
    if score < TARGET or unexplained:
        print("Mutation testing FAILED.")
        return 1
    print("Mutation testing passed.")
    return 0


def load_equivalent(path):
    """{(function, mutation): entry} of the listed equivalent mutants."""
    if not path.exists():
        return {}
    entries = tomllib.loads(path.read_text()).get("equivalent", [])
    return {(entry["function"], entry["mutation"].strip()): entry for entry in entries}


def function_of(name):
    """The function a mutant is in, named by its module's last part and its own (qualified) name:
    'my_service.plumbing.server.sizing.x__cgroup_dirs__mutmut_16' -> 'sizing._cgroup_dirs',
    'my_service.plumbing.server.wsgi.xǁTimedBodyǁclose__mutmut_2' -> 'wsgi.TimedBody.close'.

    Neither the mutant's number (it changes whenever its function does) nor
    the package path (it changes when a module moves) is part of it, so a
    listed mutant stays listed as long as the same change to the same
    function survives.
    """
    module, _, mangled = re.sub(r"__mutmut_\d+$", "", name).rpartition(".")
    function = mangled.removeprefix("x").removeprefix("_") if not mangled.startswith("xǁ") else mangled[2:]
    return f"{module.rpartition('.')[2]}.{function.replace('ǁ', '.')}"


DIFFS = """
import json, sys
from mutmut.mutation.diff_apply import find_mutant, get_diff_for_mutant
names = json.load(sys.stdin)
print(json.dumps({name: get_diff_for_mutant(name, path=find_mutant(name).path) for name in names}))
"""


def mutant_diffs(project, mutmut, env, names):
    """{name: diff} as `mutmut show` prints them, from one process (one `mutmut show` each takes a second)."""
    python = str(Path(mutmut).parent / "python")
    result = subprocess.run([python, "-c", DIFFS], cwd=project, env=env, input=json.dumps(names),
                            capture_output=True, text=True, check=True)
    return {name: diff.strip() for name, diff in json.loads(result.stdout.splitlines()[-1]).items()}


def changed_lines(diff):
    """The mutant's own lines ("+" in its diff), the key that ties a listed equivalent mutant to its mutation."""
    return "\n".join(line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++"))


if __name__ == "__main__":
    sys.exit(main())
