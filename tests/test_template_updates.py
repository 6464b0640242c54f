"""A project keeps taking the template's later changes: one made with
`cruft create` takes them with `cruft update`, and one baked with plain
cookiecutter is attached first with `cruft link`. `cruft check` says when the
project is behind; the user's own edits are kept, and where the user and the
template changed the same lines, git merge markers show the conflict.

Each test makes the template a git repository of its own in a temporary
directory (cruft works from a template's git history), commits to it as a
template maintainer would, and drives the real `cruft` CLI of this venv.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TEST_PYTHON_VERSION
from support.project import TEMPLATE_DIR, cookiecutter_command

CRUFT = Path(sys.executable).parent / "cruft"  # from the template's requirements-dev.txt
# The boot check would install the project's dependencies twice per update
# (cruft renders the old and the new template); the project is not run here.
ANSWERS = {"boot_check": False, "python_version": TEST_PYTHON_VERSION}
SETTINGS = Path("{{cookiecutter.project_slug}}") / "{{cookiecutter.project_slug}}" / "settings.py"
# The template's second commit: one setting more in every generated settings.py.
NEW_SETTING = "DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024  # 5 MB, added by the template's second commit\n"
# The user's own code, in a file the template change does not touch.
USERS_VIEW = '\n\ndef about(request):\n    """The project\'s own view, added after the bake."""\n    return render(request, "home.html")\n'


@pytest.fixture
def env(tmp_path):
    """A git identity of the test's own, so commits work on a fresh CI machine; HOME keeps
    the user's git and cookiecutter configuration (and cookiecutter's replay files) out."""
    home = tmp_path / "home"
    home.mkdir()
    identity = {"GIT_AUTHOR_NAME": "Template Tests", "GIT_AUTHOR_EMAIL": "tests@example.com"}
    identity.update(GIT_COMMITTER_NAME=identity["GIT_AUTHOR_NAME"], GIT_COMMITTER_EMAIL=identity["GIT_AUTHOR_EMAIL"])
    return {**os.environ, **identity, "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1"}


def run(command, cwd, env, check=True):
    result = subprocess.run([str(part) for part in command], check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"{command!r} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def commit_all(directory, message, env):
    run(["git", "add", "--all"], directory, env)
    run(["git", "commit", "--quiet", "--message", message], directory, env)
    return run(["git", "rev-parse", "HEAD"], directory, env).stdout.strip()


@pytest.fixture
def template_repo(tmp_path, env):
    """The template in a git repository of its own, as one commit.

    The files are those git lists in this checkout, tracked or new and not
    ignored, as they are in the working tree: the template with its
    uncommitted changes, the same files the other tests bake from, less what
    .gitignore leaves out (.venv, caches).
    """
    repo = tmp_path / "template"
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], TEMPLATE_DIR, env).stdout
    for name in filter(None, listed.split("\0")):
        source = TEMPLATE_DIR / name
        if source.is_file():  # not a tracked file deleted in the working tree
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    run(["git", "init", "--quiet", "--initial-branch=main"], repo, env)
    commit_all(repo, "The template as the tests found it", env)
    return repo


def change_the_template(repo, env):
    """A maintainer's second commit: a new line in the generated settings.py."""
    with open(repo / SETTINGS, "a") as settings:
        settings.write(f"\n{NEW_SETTING}")
    return commit_all(repo, "Limit request bodies to 5 MB", env)


def cruft(*arguments, cwd, env, check=True):
    assert CRUFT.exists(), f"{CRUFT} is missing: pip install -r requirements-dev.txt"
    return run([CRUFT, *arguments], cwd, env, check=check)


def make_users_project_repo(project, env):
    """The user's repository: the bake as its first commit, then their own view."""
    run(["git", "init", "--quiet", "--initial-branch=main"], project, env)
    commit_all(project, "Bake the project", env)
    with open(project / project.name / "views.py", "a") as views:
        views.write(USERS_VIEW)
    commit_all(project, "An about page", env)


def assert_out_of_date(project, env):
    check = cruft("check", cwd=project, env=env, check=False)
    assert check.returncode == 1, check.stdout + check.stderr
    assert "out of date" in check.stdout


def assert_update_took_the_change_and_kept_the_users_edit(project, template_head, env):
    env_file, lock = (project / ".env").read_text(), (project / "uv.lock").read_text()

    update = cruft("update", "--skip-apply-ask", cwd=project, env=env)

    # Exactly the template's change, applied without conflicts, and the new template commit recorded.
    assert not list(project.rglob("*.rej")), update.stdout + update.stderr
    changed = run(["git", "status", "--porcelain", "--untracked-files=all"], project, env).stdout.splitlines()
    # (git apply -3, which cruft uses in a git repository, stages what it applies.)
    assert sorted(line[3:] for line in changed) == [".cruft.json", f"{project.name}/settings.py"], update.stdout + update.stderr
    assert (project / project.name / "settings.py").read_text().endswith(NEW_SETTING)
    assert json.loads((project / ".cruft.json").read_text())["commit"] == template_head
    # What the user wrote, and what the bake made for this project alone, are untouched.
    assert (project / project.name / "views.py").read_text().endswith(USERS_VIEW)
    assert (project / ".env").read_text() == env_file
    # uv.lock, rendered by an {% include %} from the template's templates/, is the lock still.
    assert (project / "uv.lock").read_text() == lock
    assert 'name = "django"' in lock and "{%" not in lock

    assert "up to date" in cruft("check", cwd=project, env=env).stdout


def test_cruft_update_brings_a_template_change_in_and_keeps_the_users_edit(template_repo, tmp_path, env):
    projects = tmp_path / "projects"
    cruft("create", template_repo, "--no-input", "--output-dir", projects, "--extra-context", json.dumps(ANSWERS), cwd=tmp_path, env=env)
    project = projects / "my_service"
    make_users_project_repo(project, env)
    assert "up to date" in cruft("check", cwd=project, env=env).stdout

    template_head = change_the_template(template_repo, env)

    assert_out_of_date(project, env)
    assert_update_took_the_change_and_kept_the_users_edit(project, template_head, env)


def test_cruft_link_attaches_a_project_baked_with_plain_cookiecutter(template_repo, tmp_path, env):
    projects = tmp_path / "projects"
    bake = [*cookiecutter_command(), "--output-dir", projects, *(f"{key}={value}" for key, value in ANSWERS.items())]
    bake[bake.index(str(TEMPLATE_DIR))] = template_repo
    run(bake, tmp_path, env)
    project = projects / "my_service"
    make_users_project_repo(project, env)
    first_commit = run(["git", "rev-parse", "HEAD"], template_repo, env).stdout.strip()

    # The answers given to cookiecutter, so that cruft renders the template as the bake did.
    cruft("link", template_repo, "--no-input", "--project-dir", project, "--extra-context", json.dumps(ANSWERS), cwd=tmp_path, env=env)
    commit_all(project, "Link the project to its template with cruft", env)

    assert json.loads((project / ".cruft.json").read_text())["commit"] == first_commit
    assert "up to date" in cruft("check", cwd=project, env=env).stdout

    template_head = change_the_template(template_repo, env)

    assert_out_of_date(project, env)
    assert_update_took_the_change_and_kept_the_users_edit(project, template_head, env)


def test_cruft_update_refuses_uncommitted_work_and_leaves_a_conflict_as_git_merge_markers(template_repo, tmp_path, env):
    projects = tmp_path / "projects"
    cruft("create", template_repo, "--no-input", "--output-dir", projects, "--extra-context", json.dumps(ANSWERS), cwd=tmp_path, env=env)
    project = projects / "my_service"
    run(["git", "init", "--quiet", "--initial-branch=main"], project, env)
    commit_all(project, "Bake the project", env)
    first_commit = run(["git", "rev-parse", "HEAD"], template_repo, env).stdout.strip()
    # The user sets the same thing the template's second commit will, at the same place.
    users_setting = "DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024  # the project's own limit\n"
    with open(project / project.name / "settings.py", "a") as settings:
        settings.write(f"\n{users_setting}")
    change_the_template(template_repo, env)

    refused = cruft("update", "--skip-apply-ask", cwd=project, env=env, check=False)
    assert refused.returncode == 1 and "unclean" in refused.stdout, refused.stdout + refused.stderr
    # Nothing changed: the user's uncommitted line is all the working tree holds.
    assert run(["git", "diff", "--name-only"], project, env).stdout.split() == [f"{project.name}/settings.py"]
    assert json.loads((project / ".cruft.json").read_text())["commit"] == first_commit

    commit_all(project, "A larger upload limit", env)
    update = cruft("update", "--skip-apply-ask", cwd=project, env=env)

    # cruft reports success; the conflict is in the file and in git status, for the user to resolve.
    settings = (project / project.name / "settings.py").read_text()
    assert f"<<<<<<< ours\n{users_setting}=======\n{NEW_SETTING}>>>>>>> theirs" in settings, update.stdout + update.stderr
    assert f"UU {project.name}/settings.py" in run(["git", "status", "--porcelain"], project, env).stdout
    assert not list(project.rglob("*.rej"))
