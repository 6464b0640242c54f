#!/usr/bin/env python3
"""Write the lock files a generated project starts with: one per django_version.

    python3 templates/relock.py [--upgrade] [--python PYTHON]

A generated project is a uv project, and its uv.lock must be there the
moment it is baked, offline included. Its uv.lock is rendered from
templates/uv-django-<version>.lock (cookiecutter's "templates" directory,
which every generated file can include). This bakes a project for each
Django version, runs `uv lock` in it (keeping the versions already locked,
or with --upgrade the newest the pyproject.toml ranges allow), and writes
its lock back with the project's name made a template variable again.
Needs uv (pip install uv) and network access to PyPI; --python names an
interpreter for uv to resolve with (any that the project supports: the lock
covers them all) where uv could only download the one .python-version
names. The template's tests check every bake's lock with `uv lock --check`.
"""

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parent.parent
LOCKS_DIR = TEMPLATE_DIR / "templates"
BAKED_NAME = 'name = "lock-project"'
TEMPLATED_NAME = "name = \"{{ cookiecutter.project_slug|replace('_', '-') }}\""


def django_versions():
    """The django_version answers, as the pre-generation hook offers them."""
    source = (TEMPLATE_DIR / "hooks" / "pre_gen_project.py").read_text()
    return re.findall(r'"(\d+\.\d+)": "3\.\d+"', source.split("DJANGO_VERSIONS = ", 1)[1].split("\n", 1)[0])


def relock(django_version, upgrade, python):
    lock_file = LOCKS_DIR / f"uv-django-{django_version}.lock"
    with tempfile.TemporaryDirectory() as work:
        subprocess.run(
            [sys.executable, "-m", "cookiecutter", str(TEMPLATE_DIR), "--no-input", "--output-dir", work,
             "project_slug=lock_project", f"django_version={django_version}", "boot_check=no"],
            check=True, capture_output=True,
        )
        project = Path(work) / "lock_project"
        if lock_file.exists() and not upgrade:
            (project / "uv.lock").write_text(lock_file.read_text().replace(TEMPLATED_NAME, BAKED_NAME))
        else:
            (project / "uv.lock").unlink()
        options = [*(["--upgrade"] if upgrade else []), *(["--python", python] if python else [])]
        subprocess.run([shutil.which("uv") or "uv", "lock", *options], cwd=project, check=True)
        locked = (project / "uv.lock").read_text()
    if locked.count(BAKED_NAME) != 1:
        raise SystemExit(f"expected the project's name once in the lock, found {locked.count(BAKED_NAME)}")
    lock_file.write_text(locked.replace(BAKED_NAME, TEMPLATED_NAME))
    print(f"wrote {lock_file.relative_to(TEMPLATE_DIR)}")


if __name__ == "__main__":
    arguments = sys.argv[1:]
    interpreter = arguments[arguments.index("--python") + 1] if "--python" in arguments else None
    for version in django_versions():
        relock(version, upgrade="--upgrade" in arguments, python=interpreter)
