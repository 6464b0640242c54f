"""The generated README's "Your first feature", done as it says on a fresh
copy of a baked project: its commands, read from the README and run in
order, the files it shows written where it says, the two edits it describes
made. The result must pass `makemigrations --check`, ruff and the project's
whole suite, the new test among them, and serve the new page."""

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import TEST_PYTHON_VERSION
from support.deploy import python_of_version, readme_commands
from support.network import free_port, http_get, wait_for_http_200
from support.project import UV, environment_without_project_variables, judged_suite_output

pytestmark = pytest.mark.slow

SECTION = "Your first feature"
# A file the README shows: its path in backquotes alone on a line (a remark in
# brackets may follow) ending in a colon, then a fenced block with its content.
SHOWN_FILE = re.compile(r"^`([\w./-]+)`(?: \([^)]*\))?:\n\n```\w+\n(.*?)^```", re.MULTILINE | re.DOTALL)
SUPERUSER_PASSWORD = "a-long-password-for-the-walk-through"


def section_text(project):
    readme = (project / "README.md").read_text()
    return re.search(rf"^## {SECTION}\n(.*?)(?=^## )", readme, re.MULTILINE | re.DOTALL).group(1)


def shell(command, project, env):
    result = subprocess.run(["bash", "-c", command], cwd=project, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{command!r}:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    return result


def insert_into_list(path, opening, item):
    """Add `item` as the last line of the Python list that starts at the line `opening`."""
    text = path.read_text()
    start = text.index(f"\n{opening}\n") + 1
    end = text.index("\n]\n", start)
    path.write_text(f"{text[:end]}\n    {item}{text[end:]}")


def make_the_edits(project, prose):
    """The settings and URL edits the README describes in words, made as described."""
    package = project / project.name
    (app_entry,) = re.findall(r"add `(\"\w+\",)` to\s+`INSTALLED_APPS`", prose)
    ((old_import, new_import),) = re.findall(r"change `(from [^`]+)`\s+to `(from [^`]+)`", prose)
    (url_entry,) = re.findall(r"add\s+`(path\([^`]+\),)` to `urlpatterns`", prose)
    insert_into_list(package / "settings.py", "INSTALLED_APPS = [", app_entry)
    urls = (package / "urls.py").read_text()
    assert urls.count(old_import) == 1
    (package / "urls.py").write_text(urls.replace(old_import, new_import))
    insert_into_list(package / "urls.py", "urlpatterns = [", url_entry)


def test_the_readmes_first_feature_walk_through_gives_a_project_that_passes_its_checks_and_serves_the_page(default_project, tmp_path):
    started = time.monotonic()
    project = tmp_path / default_project.name
    shutil.copytree(default_project, project, ignore=shutil.ignore_patterns(".venv", "staticfiles", "db.sqlite3", "__pycache__"))
    env = environment_without_project_variables()
    env.update(PATH=f"{Path(UV).parent}{os.pathsep}{env['PATH']}", UV_PYTHON=python_of_version(TEST_PYTHON_VERSION), UV_PYTHON_DOWNLOADS="never")
    prose = section_text(project)
    commands = readme_commands(project, SECTION)
    files = SHOWN_FILE.findall(prose)

    assert commands[:2] == ["uv run python manage.py startapp notes", "rm notes/tests.py"]
    assert [path for path, _ in files] == [
        "notes/models.py", "notes/admin.py", "notes/views.py", "notes/templates/notes/note_list.html", "notes/urls.py",
        "tests/test_notes.py",
    ]
    shell("uv sync", project, env)
    for command in commands[:2]:
        shell(command, project, env)
    for path, content in files:
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text(content)
    make_the_edits(project, " ".join(prose.split()))

    ruff_format, makemigrations, migrate, run_tests, createsuperuser, runserver = commands[2:]
    shell(ruff_format, project, env)
    shell(makemigrations, project, env)
    shell(migrate, project, env)
    suite = subprocess.run(["bash", "-c", f"{run_tests} -rsxX"], cwd=project, env=env, capture_output=True, text=True, timeout=900)
    judged_suite_output(suite.returncode, suite.stdout + suite.stderr)
    # createsuperuser asks its questions at a terminal; here they are answered on its command line.
    made = shell(f"{createsuperuser} --noinput --username admin --email admin@example.com", project,
                 {**env, "DJANGO_SUPERUSER_PASSWORD": SUPERUSER_PASSWORD})
    page = serve_and_get(f"{runserver} 127.0.0.1:{{port}}", "/notes/", project, env)
    unchanged = shell("uv run python manage.py makemigrations --check --dry-run", project, env)
    shell("uv run ruff check . && uv run ruff format --check .", project, env)
    print(f"\nYour first feature, from startapp to a passing suite and a served page, on a fresh copy: {time.monotonic() - started:.0f} s")

    assert (ruff_format, makemigrations, migrate, run_tests, createsuperuser) == (
        "uv run ruff format", "uv run python manage.py makemigrations notes", "uv run python manage.py migrate", "uv run pytest",
        "uv run python manage.py createsuperuser",
    )
    assert (project / "notes" / "migrations" / "0001_initial.py").is_file()
    assert re.search(r"^tests/test_notes\.py \.", suite.stdout, re.MULTILINE), suite.stdout[-3000:]
    assert "Superuser created successfully." in made.stdout
    assert page[0] == 200 and b"<title>Notes</title>" in page[2]
    assert "No changes detected" in unchanged.stdout


def serve_and_get(command, path, project, env):
    """Start the README's server command on a free port, GET `path` once it answers, then stop it."""
    port = free_port()
    process = subprocess.Popen(["bash", "-c", command.format(port=port)], cwd=project, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for_http_200(port, "/healthz", timeout=60, process=process)
        return http_get(port, path)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=40)
