"""Let the mutant under test reach the Python processes the generated suite starts.

The generated suite checks settings, start-up and the gunicorn server in fresh
interpreters (`python -c "import <slug>.wsgi"`, `python -m <slug>.plumbing.server`),
each given an environment of its own. mutmut 3 picks the mutant to run from
the MUTANT_UNDER_TEST variable, so without help those processes would run the
unmutated code, and mutmut would not know which tests reach it there.

Loaded in the baked copy twice over:
- as a pytest plugin (`-p subprocess_mutants`): every subprocess a test starts
  with an explicit `env` gets MUTANT_UNDER_TEST too, and while mutmut maps
  tests to functions ("stats"), the functions those processes ran are
  credited to the test that started them (read back from a file they append
  to), for the modules MUTMUT_SUBPROCESS_MODULES names (comma-separated);
- by a .pth file in the venv (`import subprocess_mutants`): in a process that
  has MUTMUT_SUBPROCESS_HITS set, each function hit is appended to that file
  (gunicorn's forked workers included).
"""

import os
import subprocess

import pytest

HITS = "MUTMUT_SUBPROCESS_HITS"


def _current_mutant():
    from mutmut.mutation.trampoline import get_mutant_under_test

    return get_mutant_under_test()


_hits_path = None


def _hits_file():
    return _hits_path


_original_init = subprocess.Popen.__init__


def _popen_init(self, *args, **kwargs):
    mutant = _current_mutant()
    env = kwargs.get("env")
    extra = {"MUTANT_UNDER_TEST": mutant}
    if mutant == "stats":
        extra[HITS] = _hits_file()
    if env is not None:
        kwargs["env"] = {**env, **extra}
    else:
        os.environ.update(extra)
    _original_init(self, *args, **kwargs)


def record_hits_in(path):
    """Have mutmut's trampolines append the name of each function this process
    runs to `path`, once each until a test's teardown has read and removed it."""
    import mutmut.mutation.trampoline as trampoline

    seen = set()

    def record(name, caller=None):
        if not os.path.exists(path):  # the test that started this process read what it had
            seen.clear()
        if name not in seen:
            seen.add(name)
            with open(path, "a") as hits:
                hits.write(name + "\n")

    trampoline.record_trampoline_hit = record


if os.environ.get(HITS):
    # A process started by a test while mutmut collects stats.
    record_hits_in(os.environ[HITS])


def pytest_configure(config):
    global _hits_path
    _hits_path = os.path.abspath("mutmut-subprocess-hits.txt")
    subprocess.Popen.__init__ = _popen_init


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    if os.path.exists(_hits_file()):
        os.remove(_hits_file())


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item, nextitem):
    """Credit what this test's processes ran to it, before mutmut's own teardown hook reads the hits."""
    path = _hits_file()
    if not os.path.exists(path):
        return
    from mutmut.state import state

    # Only the modules named: a function that in-process tests reach too would
    # otherwise draw every test that starts a server or imports the settings,
    # seconds each, into the run of each of its mutants.
    modules = tuple(os.environ.get("MUTMUT_SUBPROCESS_MODULES", "").split(","))
    with open(path) as hits:
        state()._stats.update(line.strip() for line in hits if line.strip().startswith(modules) and any(modules))
    os.remove(path)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    """Fastest tests first (by the durations mutmut measured), so that a mutant's run
    ends at its first failing test before the slow ones start a server or an interpreter."""
    import json

    try:
        with open("mutmut-stats.json") as stats:  # pytest runs in mutants/
            durations = json.load(stats)["duration_by_test"]
    except (OSError, ValueError, KeyError):
        return
    items.sort(key=lambda item: durations.get(item.nodeid, durations.get(f"mutants/{item.nodeid}", 0.0)))
