"""Mutation testing of the template's hooks, against the template's own tests.

    .venv/bin/python mutation/hooks.py [--keep DIR] [--max-children N]

The hooks are Jinja templates that cookiecutter renders, then runs as scripts.
As they are, they parse as Python (`{{ cookiecutter.x }}` reads as a set
display), so mutmut 3.8.1 mutates them in a temporary copy of the template,
leaving every line that holds a Jinja expression alone (those are answers, not
logic, and a mutant there would not render). The template's tests run from
mutmut's mutants/ copy, whose tests/support finds the template beside it: so
they bake the copy, and cookiecutter renders and runs the mutated hooks (and
test_boot_check_checks.py and test_boot_check_setup.py load the mutated
post-generation hook in-process). hook_mutants.py carries the mutant under
test into the hooks' processes.

Measured: every function of pre_gen_project.py, against test_answers_rejected.py
(which also judges answers in-process) and the bakes of test_bake.py in TESTS;
of post_gen_project.py, what every bake runs (the deploy files left out, .env)
against those bakes, and the boot check's functions (MEASURED below) against
the two in-process test modules. Not measured (their mutants are made but not
run, and are left out of the score; the run prints how many): NOT_MEASURED
below, each with its reason.

Prints the score and every surviving mutant with its diff (mutation/run.py's
judgement), and exits 1 below run.py's TARGET or on a survivor not listed in
equivalent_hook_mutants.toml with the reason it is equivalent. Nothing of this
is added to the template, its hooks or the projects it generates.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from run import HERE, MUTMUT, TEMPLATE_DIR, in_workdir, judge, mutant_statuses

# What the tests bake from, copied beside them.
TEMPLATE_FILES = ["hooks", "tests", "templates", "{{cookiecutter.project_slug}}", "cookiecutter.json", "pyproject.toml"]
TESTS = [
    "tests/test_answers_rejected.py",
    "tests/test_boot_check_checks.py",
    "tests/test_boot_check_setup.py",
    # The bakes that check what the post-generation hook leaves behind.
    "tests/test_bake.py::test_a_deploy_target_left_out_leaves_out_its_files_only",
    "tests/test_bake.py::test_the_secret_key_is_in_the_ignored_env_file_and_in_no_tracked_file",
    "tests/test_bake.py::test_each_bake_gets_its_own_secret_key",
    "tests/test_bake.py::test_the_env_file_turns_debug_on_for_local_development_and_says_never_to_commit_it",
]
MEASURED = {
    "pre_gen_project": None,  # every function
    "post_gen_project": [
        "remove_unchosen_files", "write_env_file", "step", "python_with_requirements", "could_not_install",
        "installed_python", "free_port", "production_environment", "run_manage", "get", "get_page", "wait_until_healthy",
        "check_pages", "stop",
    ],
}
NOT_MEASURED = {
    "post_gen_project": {
        "uv_command": "its fallback installs uv from PyPI with pip: the network and a minute (uv on the PATH is tested)",
        "boot_check": "starts the real project under gunicorn",
        "main": "its boot-check branch boots the real project",
    },
}
EQUIVALENTS = HERE / "equivalent_hook_mutants.toml"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="work in this directory and leave it there (to rerun mutmut by hand)")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    started = time.monotonic()
    code = in_workdir(args.keep, "mutation-hooks-", mutation_test, args.max_children)
    print(f"Mutation testing of the hooks took {time.monotonic() - started:.0f} s.")
    return code


def mutation_test(workdir, max_children):
    python = install(workdir / "venv")
    copy = workdir / "template"
    configure(copy, python)
    mutmut = str(Path(python).parent / "mutmut")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MUTANT_", "MUTMUT_")) and key != "VIRTUAL_ENV"}
    patterns = [f"hooks.{hook}.{'x_*' if functions is None else f'x_{function}__mutmut_*'}"
                for hook, functions in MEASURED.items() for function in (functions or [None])]
    print(f"Running mutmut over the hooks ({max_children} at a time): {', '.join(patterns)}", flush=True)
    result = subprocess.run([mutmut, "run", "--max-children", str(max_children), *patterns], cwd=copy, env=env,
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        # mutmut redraws a progress line; keep only its last state.
        print(re.sub(r"[^\n]*\r", "", (result.stdout + result.stderr).replace("\x1b[2K", ""))[-6000:])
        print(f"mutmut run exited {result.returncode}")
        return 1
    statuses = mutant_statuses(copy)
    measured = {name: status for name, status in statuses.items() if is_measured(name)}
    print(f"Not measured: {len(statuses) - len(measured)} mutants, of these functions:")
    for hook, functions in NOT_MEASURED.items():
        for function, reason in functions.items():
            print(f"  {hook}.{function}: {reason}")
    return judge(measured, copy, mutmut, env, EQUIVALENTS)


def is_measured(name):
    _, hook, mangled = name.split(".", 2)
    function = mangled.removeprefix("x_").partition("__mutmut_")[0]
    functions = MEASURED.get(hook, [])
    if functions is None or function in functions:
        return True
    if function not in NOT_MEASURED.get(hook, {}):
        sys.exit(f"hooks/{hook}.py has a function {function} that neither MEASURED nor NOT_MEASURED names")
    return False


def install(venv):
    """A venv of the template's tooling plus mutmut; the hooks run in it too, so the mutants' trampolines import."""
    uv = str(Path(sys.executable).parent / "uv")
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([uv, "pip", "install", "--quiet", "--python", str(python), "-r", str(TEMPLATE_DIR / "requirements-dev.txt"), MUTMUT],
                   check=True)
    site_packages = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                        capture_output=True, text=True, check=True).stdout.strip())
    # hook_mutants.py records hits with subprocess_mutants.py's recorder.
    for plugin in ("hook_mutants.py", "subprocess_mutants.py"):
        shutil.copy(HERE / plugin, site_packages / plugin)
    (site_packages / "hook_mutants.pth").write_text("import os; os.environ.get('MUTMUT_HOOK_HITS') and __import__('hook_mutants')\n")
    return python


def configure(copy, python):
    """The template's files in `copy`, with mutmut's settings in its pyproject.toml."""
    for name in TEMPLATE_FILES:
        source = TEMPLATE_DIR / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"), dirs_exist_ok=True)
        else:
            copy.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, copy / name)
    with open(copy / "pyproject.toml", "a") as pyproject:
        pyproject.write(
            "\n[tool.mutmut]\n"
            'source_paths = ["hooks"]\n'
            'also_copy = ["cookiecutter.json", "templates", "{{cookiecutter.project_slug}}"]\n'
            # A line with a Jinja expression is an answer, not logic; a mutant of it would not render.
            "do_not_mutate_patterns = ['\\{\\{']\n"
            f"pytest_add_cli_args_test_selection = {json.dumps(TESTS)}\n"
            'pytest_add_cli_args = ["-p", "hook_mutants", "-p", "no:cacheprovider"]\n'
        )


if __name__ == "__main__":
    sys.exit(main())
