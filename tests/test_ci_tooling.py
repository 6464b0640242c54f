"""What keeps a generated project current: its GitHub Actions workflow, its
Dependabot configuration and its pre-commit hooks. Both files validate
against GitHub's schemas (as check-jsonschema ships them); every option set
bakes ruff-clean code; the pre-commit hooks pass on a fresh bake; and the CI
test job's own `run:` steps, read from the workflow, run here in order
against PostgreSQL, so a step that would fail on GitHub fails here first."""

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import TEST_PYTHON_VERSION, bake
from support.deploy import (
    check_jsonschema,
    clean_environment,
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


def test_every_from_line_of_the_dockerfile_names_the_python_version_answers_image_in_a_tag_dependabot_reads(default_project):
    """Dependabot's docker entry watches the tags FROM lines name as written:
    it expands no ARG (dependabot-core#2057), so `FROM python:${PYTHON_VERSION}-slim`
    would leave it watching nothing."""
    images = from_images((default_project / "Dockerfile").read_text())

    assert len(images) == 2  # the build stage and the final one
    assert [image for image in images if not re.fullmatch(r"[a-z0-9./_-]+:[A-Za-z0-9._-]+", image)] == []  # no $, no ${...}
    assert set(images) == {f"python:{TEST_PYTHON_VERSION}-slim"}


def test_the_readmes_pre_commit_commands_install_hooks_that_pass_on_a_fresh_bake_and_its_first_commit(cookies, tmp_path):
    """The README's commands, word for word, in a fresh bake put under git;
    the hook environments come from PyPI. Every hook runs (none finds no
    file) and passes, so none changed a file, and the first commit goes through."""
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
    results = dict(re.findall(r"^(.+?)\.{3,}(?:\(no files to check\))?(Passed|Failed|Skipped)$", hooks.stdout, re.MULTILINE))
    configured = [hook["name"] for repo in load_yaml(project / ".pre-commit-config.yaml")["repos"] for hook in repo["hooks"]]
    assert hooks.returncode == 0, hooks.stdout + hooks.stderr
    assert results == {name: "Passed" for name in configured}, hooks.stdout
    # A fixer that changed a file leaves it different from what was staged.
    assert run(["git", "diff", "--name-only"], project, os.environ).stdout == ""
    assert commit.returncode == 0, commit.stdout + commit.stderr


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
    assert "System check identified no issues" in outputs


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
