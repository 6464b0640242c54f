"""What keeps a generated project current: its GitHub Actions workflow, its
Dependabot configuration and its pre-commit hooks. Both files validate
against GitHub's schemas (as check-jsonschema ships them); the workflow runs
on every push to main and every pull request; Dependabot groups uv's minor
and patch updates and leaves each major alone; every option set bakes
ruff-clean code; the pre-commit hooks pass on a fresh bake, run uv.lock's
ruff as CI does, and refuse a commit with each problem the README names; and
the CI test job's own `run:` steps, read from the workflow, run here in order
against PostgreSQL, so a step that would fail on GitHub fails here first (the
migrations step also on a model without its migration)."""

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from conftest import TEST_PYTHON_VERSION, bake
from support.deploy import (
    check_jsonschema,
    clean_environment,
    from_images,
    git_checkout,
    new_database,
    python_of_version,
    readme_commands,
    shell,
)
from support.project import UV, environment_without_project_variables, run

pytestmark = pytest.mark.slow

WORKFLOW = ".github/workflows/ci.yml"
DEPENDABOT = ".github/dependabot.yml"
OPTION_SETS = {
    "defaults": {},
    "django-5.2": {"django_version": "5.2"},
    "django-5.2-python-3.11": {"django_version": "5.2", "python_version": "3.11"},
    "redis": {"redis": True},
    "no-sentry": {"sentry": False},
    "no-deploy-targets": {"deploy_docker": False, "deploy_heroku": False, "deploy_render": False},
}
# The actions the test job uses, and what stands in for each here.
ACTIONS_STOOD_IN_FOR = {
    "actions/checkout": "git_checkout: a clone of the baked project, so git-ignored files (.env) are not there",
    "astral-sh/setup-uv": "the template's own uv on PATH, with the Python of .python-version",
}
# What the job must run on each pull request, as the generated README says.
PROMISED_COMMANDS = {
    "uv sync --locked": r"\buv sync --locked\b",
    "ruff check": r"\bruff check\b",
    "ruff format --check": r"\bruff format --check\b",
    "pytest": r"\bpytest\b",
    "makemigrations --check": r"manage\.py makemigrations --check\b",
    "check --deploy": r"manage\.py check --deploy --fail-level WARNING\b",
}
# Each check the generated README says the hooks make on a commit: the hook's
# id, and files with that problem alone, which a commit of them must not get past.
COMMIT_PROBLEMS = {
    "ruff (lint)": ("ruff-check", {"scratch.py": "import os\n"}),
    "ruff (format)": ("ruff-format", {"scratch.py": "x=1\n"}),
    "trailing whitespace": ("trailing-whitespace", {"notes.txt": "a line that ends in a space \n"}),
    "end of files": ("end-of-file-fixer", {"notes.txt": "a last line without its newline"}),
    "YAML syntax": ("check-yaml", {"broken.yaml": "key: [unclosed\n"}),
    "TOML syntax": ("check-toml", {"broken.toml": "key =\n"}),
    "JSON syntax": ("check-json", {"broken.json": '{"key": }\n'}),
    "mixed line endings": ("mixed-line-ending", {"notes.txt": "a Windows line\r\nand a Unix one\n"}),
    # Over the hook's default limit of 500 KB.
    "large files": ("check-added-large-files", {"large.txt": "x" * 600 * 1024 + "\n"}),
}
# The hooks that fix what they find: they change the file and still stop the commit.
FIXERS = {"ruff-check", "ruff-format", "trailing-whitespace", "end-of-file-fixer", "mixed-line-ending"}
# pre-commit's line for each hook it ran: its name, dots, the outcome.
HOOK_RESULT = r"^(.+?)\.{3,}(?:\(no files to check\))?(Passed|Failed|Skipped)$"
# GitHub runs a `shell: bash` step as `bash --noprofile --norc -eo pipefail {0}`.
GITHUB_BASH = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]


def baked(cookies, **answers):
    result = bake(cookies, **answers)
    assert result.exit_code == 0, result.exception
    return result.project_path


def load_yaml(path):
    return yaml.safe_load(Path(path).read_text())


def triggers(workflow):
    # YAML 1.1 (PyYAML) reads the bare key `on` as True.
    return workflow.get("on", workflow.get(True))


def locked_version(project, package):
    lock = tomllib.loads((project / "uv.lock").read_text())
    return next(entry["version"] for entry in lock["package"] if entry["name"] == package)


def as_strings(variables):
    """Workflow `env:` values as GitHub hands them to a process: strings."""
    return {name: str(value).lower() if isinstance(value, bool) else str(value) for name, value in (variables or {}).items()}


@pytest.mark.parametrize("answers", OPTION_SETS.values(), ids=OPTION_SETS.keys())
def test_every_option_set_bakes_code_ruff_finds_nothing_to_fix_or_reformat_in(cookies, answers):
    """With the ruff uv.lock pins (the one CI and the pre-commit hook run) and the project's own settings."""
    project = baked(cookies, **answers)
    ruff = [UV, "tool", "run", "--python", sys.executable, f"ruff@{locked_version(project, 'ruff')}"]
    env = environment_without_project_variables()

    lint = subprocess.run([*ruff, "check", "--no-cache"], cwd=project, env=env, capture_output=True, text=True)
    formatting = subprocess.run([*ruff, "format", "--check", "--no-cache"], cwd=project, env=env, capture_output=True, text=True)

    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert formatting.returncode == 0, formatting.stdout + formatting.stderr


@pytest.mark.parametrize("deploy_docker", [True, False], ids=["docker", "no-docker"])
def test_the_workflow_and_dependabot_config_are_valid_and_build_the_image_only_with_docker(cookies, deploy_docker):
    project = baked(cookies, deploy_docker=deploy_docker)
    workflow = load_yaml(project / WORKFLOW)
    dependabot = load_yaml(project / DEPENDABOT)

    workflow_check = check_jsonschema("--builtin-schema", "vendor.github-workflows", str(project / WORKFLOW))
    dependabot_check = check_jsonschema("--builtin-schema", "vendor.dependabot", str(project / DEPENDABOT))

    assert workflow_check.returncode == 0, workflow_check.stdout + workflow_check.stderr
    assert dependabot_check.returncode == 0, dependabot_check.stdout + dependabot_check.stderr
    # Dependabot's pull requests are pull requests: CI runs on each.
    assert "pull_request" in triggers(workflow)
    assert ("docker" in workflow["jobs"]) == deploy_docker
    ecosystems = {update["package-ecosystem"]: update for update in dependabot["updates"]}
    assert sorted(ecosystems) == sorted(["uv", "github-actions"] + (["docker"] if deploy_docker else []))
    assert {update["schedule"]["interval"] for update in ecosystems.values()} == {"weekly"}
    if deploy_docker:
        build = next(step for step in workflow["jobs"]["docker"]["steps"] if step.get("uses", "").startswith("docker/build-push-action@"))
        assert build["with"]["push"] is False


def test_ci_runs_on_every_push_to_main_and_every_pull_request(default_project):
    """No filter narrows either trigger (branches, paths, types), and the test job runs on both."""
    workflow = load_yaml(default_project / WORKFLOW)

    assert triggers(workflow)["push"] == {"branches": ["main"]}
    # A bare `pull_request:`: every pull request, to any branch, on opening and on each push to it.
    assert triggers(workflow)["pull_request"] is None
    assert "if" not in workflow["jobs"]["test"]
    # GitHub runs one workflow run per concurrency group at a time, cancels
    # the running one when cancel-in-progress is true, and cancels a pending
    # one when a newer run joins the group.
    push_runs = [concurrency(workflow, event_name="push", ref="refs/heads/main", run_id=run_id) for run_id in (1, 2)]
    pull_request_runs = [concurrency(workflow, event_name="pull_request", ref="refs/pull/7/merge", run_id=run_id) for run_id in (3, 4)]
    # Each push to main is checked to the end, whatever is pushed after it.
    assert push_runs[0]["group"] != push_runs[1]["group"]
    # A newer push to a pull request cancels the run it makes stale.
    assert pull_request_runs[0]["group"] == pull_request_runs[1]["group"]
    assert pull_request_runs[1]["cancel-in-progress"] is True


def concurrency(workflow, **github):
    """The workflow's concurrency settings as GitHub evaluates them for a run
    with these `github` context values (expressions of names, quoted strings,
    ==, != and the && || value operators, which act as Python's and/or)."""

    def evaluated(value):
        if not isinstance(value, str):
            return value
        parts = re.split(r"\$\{\{(.*?)\}\}", value)
        if parts[0] == parts[-1] == "" and len(parts) == 3:
            return expression(parts[1])
        return "".join(str(expression(part)) if index % 2 else part for index, part in enumerate(parts))

    def expression(text):
        assert re.fullmatch(r"[\w.\s'=!&|]*", text), f"an expression this test does not read: {text}"
        python = text.replace("&&", " and ").replace("||", " or ")
        return eval(python, {"__builtins__": {}}, {"github": SimpleNamespace(workflow="CI", **github)})

    return {key: evaluated(value) for key, value in workflow.get("concurrency", {}).items()}


def test_dependabot_proposes_minor_and_patch_uv_updates_together_and_each_major_alone(default_project):
    """One group takes the minor and patch updates of every package in
    uv.lock; a major update, left out of every group, gets a pull request of its own."""
    uv = next(update for update in load_yaml(default_project / DEPENDABOT)["updates"] if update["package-ecosystem"] == "uv")
    groups = uv.get("groups", {})

    # A group without update-types would take majors too.
    assert [sorted(group.get("update-types", ["major", "minor", "patch"])) for group in groups.values()] == [["minor", "patch"]]
    # Every package, every dependency type, version updates (not only security ones).
    assert [group.keys() for group in groups.values()] == [{"update-types"}]
    # Nothing ignored (an ignored major never comes) or held back.
    assert "ignore" not in uv
    assert uv.get("open-pull-requests-limit", 5) > 0


def ruff_version_run_by(command, project, env):
    """The version of the ruff a command line runs: its words up to ruff's own, then --version."""
    words = shlex.split(command)
    ruff = next(index for index, word in enumerate(words) if re.fullmatch(r"ruff(?:[@=].*)?", word))
    result = subprocess.run([*words[:ruff + 1], "--version"], cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{command!r}: {result.stdout}{result.stderr}"
    return result.stdout.strip()


def attempted_commit(project, git, env, files, *options):
    """`git commit` of `files` (name: text) with the installed hooks; then the work tree as it was.
    Returns the commit's exit code, its output, and the names of the files the hooks changed."""
    for name, text in files.items():
        (project / name).write_text(text)
    run([*git, "add", *files], project, os.environ)
    commit = subprocess.run([*git, "commit", *options], cwd=project, env=env, capture_output=True, text=True, timeout=600)
    changed = [name for name, text in files.items() if (project / name).read_bytes() != text.encode()]
    run(["git", "reset", "-q", "--hard"], project, os.environ)
    return commit.returncode, commit.stdout + commit.stderr, changed


def failed_hooks(output):
    """The names of the hooks pre-commit reports as failed, in its order."""
    return [name for name, result in re.findall(HOOK_RESULT, output, re.MULTILINE) if result == "Failed"]


def test_every_from_line_of_the_dockerfile_names_the_python_version_answers_image_in_a_tag_dependabot_reads(default_project):
    """Dependabot's docker entry watches the tags FROM lines name as written:
    it expands no ARG (dependabot-core#2057), so `FROM python:${PYTHON_VERSION}-slim`
    would leave it watching nothing."""
    images = from_images((default_project / "Dockerfile").read_text())

    assert len(images) == 2  # the build stage and the final one
    assert [image for image in images if not re.fullmatch(r"[a-z0-9./_-]+:[A-Za-z0-9._-]+", image)] == []  # no $, no ${...}
    assert set(images) == {f"python:{TEST_PYTHON_VERSION}-slim"}


def test_the_readmes_pre_commit_commands_install_hooks_that_pass_a_fresh_bake_and_refuse_each_problem_it_names(cookies, tmp_path):
    """The README's commands, word for word, in a fresh bake put under git;
    the hook environments come from PyPI. Every hook runs (none finds no
    file) and passes, so none changed a file, and the first commit goes
    through. Then a commit with each problem the README names (and one that
    concludes a merge with conflict markers) is refused by that problem's hook."""
    project = baked(cookies)
    git = ["git", "-c", "init.defaultBranch=main", "-c", "user.name=Template Tests", "-c", "user.email=tests@example.com"]
    run([*git, "init", "-q"], project, os.environ)
    run([*git, "add", "--all"], project, os.environ)
    env = clean_environment(
        PATH=f"{Path(UV).parent}{os.pathsep}{os.environ['PATH']}", PRE_COMMIT_HOME=str(tmp_path / "pre-commit"),
        UV_PYTHON=python_of_version((project / ".python-version").read_text().strip()), UV_PYTHON_DOWNLOADS="never",
    )
    install, run_all = readme_commands(project, "CI and dependency updates")

    shell(install, project, env)
    hooks = subprocess.run(["bash", "-c", run_all], cwd=project, env=env, capture_output=True, text=True, timeout=600)
    commit = subprocess.run([*git, "commit", "-q", "-m", "Generated project"], cwd=project, env=env, capture_output=True, text=True, timeout=600)

    assert (install, run_all) == ("uv run pre-commit install", "uv run pre-commit run --all-files")
    assert (project / ".git" / "hooks" / "pre-commit").is_file()
    results = dict(re.findall(HOOK_RESULT, hooks.stdout, re.MULTILINE))
    configured = {hook["id"]: hook for repo in load_yaml(project / ".pre-commit-config.yaml")["repos"] for hook in repo["hooks"]}
    assert hooks.returncode == 0, hooks.stdout + hooks.stderr
    assert results == {hook["name"]: "Passed" for hook in configured.values()}, hooks.stdout
    # A fixer that changed a file leaves it different from what was staged.
    assert run(["git", "diff", "--name-only"], project, os.environ).stdout == ""
    assert commit.returncode == 0, commit.stdout + commit.stderr

    # The ruff hooks run, in the project's environment, the ruff uv.lock pins: the one CI's steps run.
    ruff_hooks = [hook for hook in configured.values() if "ruff" in hook["entry"]]
    ci_ruff_steps = [step["run"] for step in load_yaml(project / WORKFLOW)["jobs"]["test"]["steps"] if re.search(r"\bruff\b", step.get("run", ""))]
    assert [hook["id"] for hook in ruff_hooks] == ["ruff-check", "ruff-format"]
    assert {hook["language"] for hook in ruff_hooks} == {"system"}, "pre-commit installs no ruff of its own"
    assert len(ci_ruff_steps) == 2
    versions = {command: ruff_version_run_by(command, project, env) for command in [hook["entry"] for hook in ruff_hooks] + ci_ruff_steps}
    assert versions == dict.fromkeys(versions, f"ruff {locked_version(project, 'ruff')}")

    assert {hook_id for hook_id, _ in COMMIT_PROBLEMS.values()} <= configured.keys()
    for problem, (hook_id, files) in COMMIT_PROBLEMS.items():
        returncode, output, changed = attempted_commit(project, git, env, files, "-m", problem)
        assert (returncode != 0, failed_hooks(output), f"- hook id: {hook_id}" in output) == (True, [configured[hook_id]["name"]], True), f"{problem}:\n{output}"
        assert changed == (list(files) if hook_id in FIXERS else []), f"{problem}:\n{output}"

    # check-merge-conflict looks only at the commit that concludes a merge.
    attempted_commit(project, git, env, {"conflict.txt": "theirs\n"}, "-q", "--no-verify", "-m", "Theirs")
    run([*git, "branch", "-q", "theirs"], project, os.environ)
    run([*git, "reset", "-q", "--hard", "HEAD~"], project, os.environ)
    attempted_commit(project, git, env, {"conflict.txt": "ours\n"}, "-q", "--no-verify", "-m", "Ours")
    assert subprocess.run([*git, "merge", "-q", "theirs"], cwd=project, env=env, capture_output=True).returncode != 0
    markers = (project / "conflict.txt").read_text()
    assert "<<<<<<< " in markers
    returncode, output, _ = attempted_commit(project, git, env, {"conflict.txt": markers}, "--no-edit")
    assert (returncode != 0, failed_hooks(output)) == (True, [configured["check-merge-conflict"]["name"]]), output


def ci_environment(checkout, workflow, job, database_url):
    """The job's environment on a runner, with this machine's stand-ins: the
    template's uv for setup-uv, a database of the test PostgreSQL server for
    the service container."""
    assert "postgres" in job["services"], "the job's database is a service container"
    python = python_of_version((checkout / ".python-version").read_text().strip())
    env = clean_environment(
        PATH=f"{Path(UV).parent}{os.pathsep}{os.environ['PATH']}",
        # setup-uv's uv downloads the Python .python-version names; here it is found, not downloaded.
        UV_PYTHON=python, UV_PYTHON_DOWNLOADS="never",
        CI="true", GITHUB_ACTIONS="true",
    )
    env.update(as_strings(workflow.get("env")))
    env.update(as_strings(job.get("env")))
    assert env["DATABASE_URL"].startswith("postgres://"), "the job points DATABASE_URL at its PostgreSQL service"
    env["DATABASE_URL"] = database_url
    return env


def run_step(step, workflow, job, checkout, env, tmp_path):
    """A `run:` step as the runner runs it: its script in a file, under the step's shell, with the step's env on top."""
    shell = step.get("shell") or job.get("defaults", {}).get("run", {}).get("shell") or workflow.get("defaults", {}).get("run", {}).get("shell")
    assert shell == "bash", f"{step.get('name', step['run'])!r} runs under {shell!r}; only GitHub's bash is run here"
    script = tmp_path / "step.sh"
    script.write_text(step["run"])
    return subprocess.run([*GITHUB_BASH, str(script)], cwd=checkout, env={**env, **as_strings(step.get("env"))},
                          capture_output=True, text=True, timeout=900)


@pytest.mark.parametrize("project_fixture", ["default_project", "lts_project"], ids=["django-6.1", "django-5.2"])
def test_the_ci_test_jobs_steps_pass_in_order_on_a_clone_against_postgresql(request, project_fixture, postgres_url, tmp_path):
    """The steps come from the workflow itself: a step added, changed or
    reordered there is what runs here. The suite (live-server test included)
    runs against PostgreSQL, as on GitHub."""
    project = request.getfixturevalue(project_fixture)
    workflow = load_yaml(project / WORKFLOW)
    job = workflow["jobs"]["test"]
    checkout = git_checkout(project, tmp_path / "checkout")
    env = ci_environment(checkout, workflow, job, new_database(postgres_url, sys.executable))

    ran = []
    for step in job["steps"]:
        if "uses" in step:
            assert step["uses"].split("@")[0] in ACTIONS_STOOD_IN_FOR, f"no stand-in here for {step['uses']}"
            continue
        result = run_step(step, workflow, job, checkout, env, tmp_path)
        assert result.returncode == 0, f"step {step.get('name', step['run'])!r} failed:\n{result.stdout[-6000:]}\n{result.stderr[-4000:]}"
        ran.append((step["run"], result.stdout + result.stderr))

    commands = "\n".join(script for script, _ in ran)
    assert [name for name, pattern in PROMISED_COMMANDS.items() if not re.search(pattern, commands)] == []
    outputs = "\n".join(output for _, output in ran)
    # The live-server test ran, every one of its tests passing (a dot each).
    assert re.search(r"^tests/test_live_server\.py \.+ +\[", outputs, re.MULTILINE), outputs[-3000:]
    assert re.search(r"^=+ \d+ passed in ", outputs, re.MULTILINE), outputs[-3000:]
    assert "No changes detected" in outputs
    # The deploy check passes with nothing to warn of; its one note is the HSTS step still to take.
    [deploy_check] = [output for script, output in ran if "check --deploy" in script]
    assert re.findall(r"^\?: \((\S+)\)", deploy_check, re.MULTILINE) == ["settings.I001"], deploy_check


def test_a_skipped_test_fails_the_ci_test_step(default_project, postgres_url, tmp_path):
    """Nothing may skip in CI, where every service is provided: the job's
    pytest step fails on a skipped test (only that test is run, for speed)."""
    workflow = load_yaml(default_project / WORKFLOW)
    job = workflow["jobs"]["test"]
    checkout = git_checkout(default_project, tmp_path / "checkout")
    (checkout / "tests" / "test_skipped_here.py").write_text(
        'import pytest\n\n\n@pytest.mark.skip(reason="a service is missing")\ndef test_needs_a_service():\n    pass\n'
    )
    env = ci_environment(checkout, workflow, job, new_database(postgres_url, sys.executable))
    pytest_step = next(step for step in job["steps"] if re.search(r"\bpytest\b", step.get("run", "")))

    result = run_step(pytest_step, workflow, job, checkout, {**env, "PYTEST_ADDOPTS": "tests/test_skipped_here.py"}, tmp_path)

    assert "1 skipped" in result.stdout, result.stdout + result.stderr
    assert result.returncode != 0, result.stdout + result.stderr


@pytest.mark.parametrize("where", ["a new app", "the accounts app"])
def test_the_ci_migrations_step_fails_on_a_model_without_its_migration(where, default_project, postgres_url, tmp_path):
    """The job's makemigrations step, read from the workflow, passes on the
    checkout and fails once a model has no migration for it: in an app started
    as a developer starts one (`startapp`), or in the accounts app the project
    ships, whose first migration is there."""
    workflow = load_yaml(default_project / WORKFLOW)
    job = workflow["jobs"]["test"]
    checkout = git_checkout(default_project, tmp_path / "checkout")
    env = ci_environment(checkout, workflow, job, new_database(postgres_url, sys.executable))
    migrations_step = next((step for step in job["steps"] if re.search(PROMISED_COMMANDS["makemigrations --check"], step.get("run", ""))), None)
    assert migrations_step, "no step of the test job runs makemigrations --check"

    unchanged = run_step(migrations_step, workflow, job, checkout, env, tmp_path)
    model = "\n\nclass Note(models.Model):\n    text = models.TextField()\n"
    if where == "a new app":
        run([UV, "run", "python", "manage.py", "startapp", "notes"], checkout, {**env, **as_strings(migrations_step.get("env"))})
        (checkout / "notes" / "models.py").write_text("from django.db import models\n" + model)
        with open(checkout / default_project.name / "settings.py", "a") as settings:
            settings.write('\nINSTALLED_APPS += ["notes"]\n')
    else:
        with open(checkout / "accounts" / "models.py", "a") as models:
            models.write("\nfrom django.db import models\n" + model)
    with_new_model = run_step(migrations_step, workflow, job, checkout, env, tmp_path)

    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr
    assert with_new_model.returncode != 0, with_new_model.stdout + with_new_model.stderr
    assert "+ Create model Note" in with_new_model.stdout, with_new_model.stdout + with_new_model.stderr
