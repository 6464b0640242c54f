"""Heroku's app.json, Render's render.yaml and compose.yaml: valid against
their published schemas, wired as the platforms need, and Render's build and
start commands run for real in a clean checkout and venv."""

import base64
import json
import os
import re
from pathlib import Path

import pytest
import yaml
from support.deploy import (
    check_jsonschema,
    clean_environment,
    git_checkout,
    new_database,
    python_of_version,
    readme_commands,
    schema,
    shell,
)
from support.network import http_get
from support.project import UV, procfile_command, running_server

RENDER_SCHEMA_URL = "https://render.com/schema/render.yaml.json"


# Each deploy command of the generated README, and the test that runs it.
# Heroku's CLI lines act on Heroku itself; the tests run what they set up
# (the config vars, the build, the Procfile) instead.
README_DEPLOY_COMMANDS = {
    "Docker": [
        (r"docker build -t my_service \.", "test_docker.py: app_image"),
        (r"export (DJANGO_SECRET_KEY|DJANGO_ALLOWED_HOSTS|DATABASE_URL)=.*", "test_docker.py: readme_env"),
        (r"docker run .* python manage.py migrate --noinput", "test_docker.py: migrated"),
        (r"docker run --rm --stop-timeout 30 -p 8000:8000 .* my_service", "test_docker.py: container"),
        (r"docker compose up --build|docker compose down", "test_docker.py: test_the_readme_compose_commands_..."),
    ],
    "Heroku": [
        (r"heroku config:set .*", "test_procfile.py: heroku_config_vars"),
        (r"heroku create|heroku addons:create heroku-postgresql|git push heroku main", "Heroku only"),
    ],
    "Render": [],
}


def render_web_service(project_dir):
    blueprint = yaml.safe_load((project_dir / "render.yaml").read_text())
    return blueprint, next(service for service in blueprint["services"] if service["type"] == "web")


@pytest.mark.parametrize("target", README_DEPLOY_COMMANDS)
def test_every_deploy_command_in_the_readme_is_one_the_tests_run(default_project, target):
    """A command added to the README without a test to run it fails here."""
    patterns = [pattern for pattern, _ in README_DEPLOY_COMMANDS[target]]
    unknown = [command for command in readme_commands(default_project, target) if not any(re.fullmatch(p, command) for p in patterns)]

    assert unknown == []


@pytest.fixture(params=["default", "redis", "tasks", "tasks_redis"])
def each_project(request):
    """The default bake, then those with redis=yes, background_tasks=yes, and both."""
    fixtures = {"default": "default_project", "redis": "redis_project", "tasks": "tasks_project", "tasks_redis": "tasks_redis_project"}
    return request.getfixturevalue(fixtures[request.param])


def test_app_json_is_valid_against_herokus_schema(each_project):
    result = check_jsonschema("--schemafile", schema("HEROKU_APP_JSON_SCHEMA"), str(each_project / "app.json"))

    assert result.returncode == 0, result.stdout + result.stderr


def test_render_yaml_is_valid_against_renders_schema(each_project):
    result = check_jsonschema("--schemafile", schema("RENDER_BLUEPRINT_SCHEMA", RENDER_SCHEMA_URL), str(each_project / "render.yaml"))

    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_yaml_is_valid_against_the_compose_specification(each_project):
    result = check_jsonschema("--builtin-schema", "vendor.compose-spec", str(each_project / "compose.yaml"))

    assert result.returncode == 0, result.stdout + result.stderr


def test_without_the_redis_answer_no_deploy_file_mentions_redis(default_project):
    for name in ("app.json", "render.yaml", "compose.yaml"):
        assert "redis" not in (default_project / name).read_text().lower(), name


def test_with_the_redis_answer_each_platform_provisions_redis_and_hands_the_app_its_url(redis_project):
    app_json = json.loads((redis_project / "app.json").read_text())
    blueprint, web = render_web_service(redis_project)
    key_value = next(service for service in blueprint["services"] if service["type"] == "keyvalue")
    compose = yaml.safe_load((redis_project / "compose.yaml").read_text())

    # Heroku's Key-Value Store add-on sets REDIS_URL itself; Heroku CI gets one in the test dyno.
    assert [addon["plan"] for addon in app_json["addons"]] == ["heroku-postgresql", "heroku-redis:mini"]
    assert "heroku-redis:in-dyno" in app_json["environments"]["test"]["addons"]
    # Render: a Key Value service reachable from the Blueprint's services only, its URL in REDIS_URL.
    assert {variable["key"]: variable for variable in web["envVars"]}["REDIS_URL"]["fromService"] == {
        "type": "keyvalue", "name": key_value["name"], "property": "connectionString",
    }
    assert key_value["ipAllowList"] == []
    # compose: a cache service the web service waits for, and its URL.
    assert compose["services"]["web"]["environment"]["REDIS_URL"] == "redis://cache:6379/0"
    assert compose["services"]["web"]["depends_on"]["cache"] == {"condition": "service_healthy"}


def test_without_the_background_tasks_answer_no_deploy_file_runs_a_worker(default_project):
    assert procfile_command(default_project, "web")
    with pytest.raises(LookupError):
        procfile_command(default_project, "worker")
    app_json = json.loads((default_project / "app.json").read_text())
    blueprint = yaml.safe_load((default_project / "render.yaml").read_text())
    compose = yaml.safe_load((default_project / "compose.yaml").read_text())
    assert list(app_json["formation"]) == ["web"]
    assert [service["type"] for service in blueprint["services"]] == ["web"]
    assert list(compose["services"]) == ["migrate", "web", "db"]


def test_with_the_background_tasks_answer_every_target_runs_the_worker_from_the_same_build(tasks_redis_project):
    project = tasks_redis_project
    start = "python -m my_service.plumbing.worker"
    app_json = json.loads((project / "app.json").read_text())
    blueprint, web = render_web_service(project)
    services = {service["type"]: service for service in blueprint["services"]}
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    worker = compose["services"]["worker"]

    # Heroku: a worker process type and one dyno of it.
    assert procfile_command(project, "worker") == start
    assert app_json["formation"]["worker"] == {"quantity": 1, "size": "basic"}
    # Render: a background worker and a daily cron job from the same repository and lock, with the web's
    # database, secret key (what a task signs, the web must accept), hosts and Redis.
    assert services["worker"]["startCommand"] == f".venv/bin/{start}"
    assert services["worker"]["maxShutdownDelaySeconds"] == 30
    assert services["cron"]["startCommand"] == '.venv/bin/python manage.py prune_db_task_results --queue-name "*"'
    assert services["cron"]["schedule"] == "30 3 * * *"
    web_env = {variable["key"]: variable for variable in web["envVars"]}
    for service in (services["worker"], services["cron"]):
        env_vars = {variable["key"]: variable for variable in service["envVars"]}
        assert env_vars["DATABASE_URL"] == web_env["DATABASE_URL"]
        assert env_vars["DJANGO_SECRET_KEY"]["fromService"] == {"type": "web", "name": web["name"], "envVarKey": "DJANGO_SECRET_KEY"}
        assert env_vars["DJANGO_ALLOWED_HOSTS"] == web_env["DJANGO_ALLOWED_HOSTS"]
        assert env_vars["REDIS_URL"] == web_env["REDIS_URL"]
    # compose: the same image and settings as web, after the migrations, with time to finish a task on stop.
    assert worker["build"] == compose["services"]["web"]["build"] and worker["environment"] == compose["services"]["web"]["environment"]
    assert worker["command"] == start.split()
    assert worker["stop_grace_period"] == "30s"
    assert worker["healthcheck"] == {"disable": True}
    assert worker["depends_on"] == compose["services"]["web"]["depends_on"]


def test_app_json_generates_the_secret_adds_postgres_and_runs_one_web_dyno(default_project):
    app_json = json.loads((default_project / "app.json").read_text())

    assert app_json["env"]["DJANGO_SECRET_KEY"] == {"description": app_json["env"]["DJANGO_SECRET_KEY"]["description"], "generator": "secret"}
    assert app_json["env"]["DATABASE_SSL_REQUIRE"]["value"] == "true"
    assert [addon["plan"] for addon in app_json["addons"]] == ["heroku-postgresql"]
    assert app_json["formation"] == {"web": {"quantity": 1, "size": "basic"}}
    assert app_json["buildpacks"] == [{"url": "heroku/python"}]


def test_render_yaml_wires_the_database_the_generated_secret_and_the_health_check(default_project):
    blueprint, web = render_web_service(default_project)
    env_vars = {variable["key"]: variable for variable in web["envVars"]}

    assert web["runtime"] == "python"
    assert web["healthCheckPath"] == "/healthz"
    assert env_vars["DATABASE_URL"]["fromDatabase"] == {"name": blueprint["databases"][0]["name"], "property": "connectionString"}
    assert env_vars["DJANGO_SECRET_KEY"] == {"key": "DJANGO_SECRET_KEY", "generateValue": True}
    assert env_vars["DJANGO_ALLOWED_HOSTS"]["value"] == "example.com"
    assert web["preDeployCommand"] == ".venv/bin/python manage.py migrate --noinput"
    # Left to gunicorn.conf.py, which sizes the workers from the instance.
    assert "WEB_CONCURRENCY" not in env_vars


@pytest.mark.slow
def test_renders_build_command_then_start_command_serve_the_app(default_project, postgres_url, tmp_path):
    """As Render deploys: uv on the path (Render adds it for a uv.lock) and the
    Python .python-version names; build with no secret and no database,
    migrate before the deploy, start with the Blueprint's variables and $PORT."""
    _, web = render_web_service(default_project)
    checkout = git_checkout(default_project, tmp_path / "app")
    python = python_of_version((checkout / ".python-version").read_text().strip())
    platform = clean_environment(PATH=f"{Path(UV).parent}{os.pathsep}{os.environ['PATH']}", UV_PYTHON=python, UV_PYTHON_DOWNLOADS="never")

    shell(web["buildCommand"], checkout, {**platform, "DATABASE_URL": "postgres://nobody@127.0.0.1:9/none"})

    blueprint_env = {variable["key"]: variable["value"] for variable in web["envVars"] if "value" in variable}
    runtime_env = clean_environment(
        **blueprint_env,
        DATABASE_URL=new_database(postgres_url, checkout / ".venv" / "bin" / "python"),
        # What generateValue makes: 256 random bits, base64 (44 characters).
        DJANGO_SECRET_KEY=base64.b64encode(os.urandom(32)).decode(),
        RENDER="true",
        RENDER_EXTERNAL_HOSTNAME="my-service.onrender.com",
    )
    migrate = shell(web["preDeployCommand"], checkout, runtime_env)
    with running_server(web["startCommand"], checkout, runtime_env, tmp_path / "server.log") as server:
        health = http_get(server.port, web["healthCheckPath"])
        # As Render's proxy forwards a request for the service's onrender.com name.
        page = http_get(server.port, "/", {"Host": "my-service.onrender.com", "X-Forwarded-Proto": "https"})
        ready = http_get(server.port, "/readyz")

    assert "Applying auth.0001_initial... OK" in migrate.stdout
    assert health[0] == 200
    assert page[0] == 200, server.log()
    assert (ready[0], ready[2]) == (200, b"ok")
    # The build installs what runs the app, not the dev group; the start command is the one that checks its variables.
    assert (checkout / ".venv" / "bin" / "gunicorn").exists() and not (checkout / ".venv" / "bin" / "pytest").exists()
    assert web["startCommand"] == ".venv/bin/python -m my_service.plumbing.server"
