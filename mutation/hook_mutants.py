"""Let the mutant under test reach the hooks cookiecutter runs as scripts.

mutmut names a hook's mutants after its path, `hooks.pre_gen_project.x_problems__mutmut_1`,
and its trampolines apply a mutant only inside the module of that name. Cookiecutter
renders the hook to a temporary file and runs it with `python <file>`, where the module
is __main__, so without help every bake would run the unmutated hook, and mutmut would
not know which tests reach it.

Loaded in mutation/hooks.py's copy of the template twice over:
- as a pytest plugin (`-p hook_mutants`): every process a test starts (a cookiecutter
  that runs the hooks, or a hook that pytest-cookies' in-process cookiecutter runs) is
  told the mutant under test as `__main__.<function>__mutmut_<n>`; and while mutmut maps
  tests to functions ("stats"), what the hooks ran there is credited to the test that
  started them (read back from a file they append to);
- by a .pth file in the venv (`import hook_mutants`): in a process that has
  MUTMUT_HOOK_HITS set, each hook function hit is appended to that file.

The two hooks define functions of different names (checked when the plugin starts),
so a mutant told to both hooks' processes as __main__'s changes only its own hook.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest
from subprocess_mutants import record_hits_in

HITS = "MUTMUT_HOOK_HITS"
HOOKS = "hooks"


def as_script(mutant):
    """The name the trampolines of a hook run as __main__ answer to; "stats", "fail" and "" as they are."""
    if mutant.startswith(f"{HOOKS}."):
        return "__main__." + mutant.rpartition(".")[2]
    return mutant


def _module_by_function():
    """{"x_problems": "hooks.pre_gen_project", ...}, from mutmut's record of the mutants it made (pytest runs in mutants/)."""
    modules = {}
    for meta in Path(HOOKS).glob("*.py.meta"):
        module = f"{HOOKS}.{meta.name.removesuffix('.py.meta')}"
        for name in json.loads(meta.read_text())["exit_code_by_key"]:
            function = name.rpartition(".")[2].partition("__mutmut_")[0]
            if modules.setdefault(function, module) != module:
                raise pytest.UsageError(f"{function} is in two hooks; a mutant of one would reach the other as __main__'s")
    return modules


_hits_path = None
_module_of = {}
_original_init = subprocess.Popen.__init__


def _popen_init(self, *args, **kwargs):
    from mutmut.mutation.trampoline import get_mutant_under_test

    mutant = get_mutant_under_test()
    # A copy, never os.environ itself: this process's own trampolines still need the mutant's real name.
    given = kwargs.get("env")
    env = {**(os.environ if given is None else given), "MUTANT_UNDER_TEST": as_script(mutant)}
    if mutant == "stats":
        env[HITS] = _hits_path
    kwargs["env"] = env
    _original_init(self, *args, **kwargs)


if os.environ.get(HITS):
    # A hook (or the cookiecutter running it) started by a test while mutmut collects stats.
    record_hits_in(os.environ[HITS])


def pytest_configure(config):
    global _hits_path, _module_of
    _hits_path = os.path.abspath("mutmut-hook-hits.txt")
    _module_of = _module_by_function()
    subprocess.Popen.__init__ = _popen_init


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    Path(_hits_path).unlink(missing_ok=True)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item, nextitem):
    """Credit what this test's hooks ran to it, under the hook's module name, before mutmut's own teardown reads the hits."""
    path = Path(_hits_path)
    if not path.exists():
        return
    from mutmut.state import state

    for line in path.read_text().split():
        module, _, function = line.rpartition(".")
        if module == "__main__" and function in _module_of:
            state()._stats.add(f"{_module_of[function]}.{function}")
    path.unlink()
