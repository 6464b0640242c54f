"""Production settings come from the environment and fail loudly when unsafe.
Each case imports the settings in a fresh interpreter, as a server would."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from {{ cookiecutter.project_slug }}.plumbing.server import gunicorn_internals
from {{ cookiecutter.project_slug }}.plumbing.server.network import DUAL_STACK, IPV6_ONLY, NO_IPV6, ipv6_listening
from {{ cookiecutter.project_slug }}.plumbing.server.sizing import DEFAULT_THREADS

PROJECT_DIR = Path(__file__).resolve().parent.parent
STRONG_KEY = "a-strong-random-production-secret-key-" + "x1y2z3" * 5
PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": STRONG_KEY,
    "DJANGO_ALLOWED_HOSTS": "example.com",
}


def start_wsgi(env):
    """Import the WSGI application as gunicorn does, with only `env` set."""
    return subprocess.run(
        [sys.executable, "-c", "import {{ cookiecutter.project_slug }}.wsgi"],
        cwd=PROJECT_DIR,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_settings_start():
    result = start_wsgi(PRODUCTION)

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DJANGO_SECRET_KEY", "", "DJANGO_SECRET_KEY is not set"),
        ("DJANGO_SECRET_KEY", "too-short", "DJANGO_SECRET_KEY is too weak"),
        ("DJANGO_SECRET_KEY", "django-insecure-" + "x" * 50, "DJANGO_SECRET_KEY is too weak"),
        # Long enough, but four characters over and over: no randomness in it.
        ("DJANGO_SECRET_KEY", "abcd" * 15, "DJANGO_SECRET_KEY is too weak"),
        ("DJANGO_ALLOWED_HOSTS", "", "DJANGO_ALLOWED_HOSTS is empty"),
        ("DATABASE_URL", "nosuchdb://wherever", "DATABASE_URL is not a database URL"),
        ("DJANGO_DEBUG", "maybe", "DJANGO_DEBUG must be true or false"),
        (
            "REDIS_URL",
            "redis://:hunter2@cache:6379/zero",
            "REDIS_URL is not a Redis URL: its path must be a database number",
        ),
        ("DATABASE_MAX_CONNECTIONS", "none", "DATABASE_MAX_CONNECTIONS must be a positive whole number"),
        ("DJANGO_LOG_FORMAT", "yaml", "DJANGO_LOG_FORMAT must be json or text, got 'yaml'."),
        ("DJANGO_SLOW_REQUEST_MS", "1s", "DJANGO_SLOW_REQUEST_MS must be a whole number of at least 0"),
        ("FORWARDED_ALLOW_IPS", "10.0.0.300", "FORWARDED_ALLOW_IPS must be * or IP addresses or networks"),
    ],
)
def test_production_refuses_to_start_with_an_unsafe_setting(variable, value, message):
    # Set even when empty: an unset variable would be read from .env.
    result = start_wsgi({**PRODUCTION, variable: value})

    assert result.returncode != 0
    assert message in result.stderr


# Python that loads the project's settings, as manage.py does, in a fresh interpreter.
SET_UP_DJANGO = "; ".join(
    [
        "import django, os",
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', '{{ cookiecutter.project_slug }}.settings')",
        "django.setup()",
        "",
    ]
)


def settings_value(env, expression):
    """The value of `expression` (over django.conf.settings) once the settings load with only `env` set."""
    code = SET_UP_DJANGO + f"from django.conf import settings; print(repr({expression}))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_DIR,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_postgresql_connections_come_from_a_pool_sized_for_one_worker_of_this_instance():
    env = {
        **PRODUCTION,
        "DATABASE_URL": "postgres://app:secret@db.internal:5432/app",
        "WEB_CONCURRENCY": "3",
        "DATABASE_MAX_CONNECTIONS": "12",
    }

    assert settings_value(env, "settings.DATABASES['default']['CONN_MAX_AGE']") == "0"
    assert settings_value(env, "sorted(settings.DATABASES['default']['OPTIONS']['pool'].items())") == (
        "[('max_size', 4), ('min_size', 1), ('reconnect_timeout', 1), ('timeout', 10)]"
    )
    assert (
        settings_value(
            {**env, "DATABASE_POOL_TIMEOUT": "3"}, "settings.DATABASES['default']['OPTIONS']['pool']['timeout']"
        )
        == "3"
    )
    # A database that does not answer fails a new connection (and readiness) in seconds.
    assert settings_value(env, "settings.DATABASES['default']['OPTIONS']['connect_timeout']") == "5"
    connect_timeout = {**env, "DATABASE_CONNECT_TIMEOUT": "2"}
    assert settings_value(connect_timeout, "settings.DATABASES['default']['OPTIONS']['connect_timeout']") == "2"


def test_without_database_url_the_database_is_sqlite_in_db_sqlite3_beside_manage_py():
    database = "settings.DATABASES['default']"

    assert settings_value(PRODUCTION, f"{database}['ENGINE']") == "'django.db.backends.sqlite3'"
    assert settings_value(PRODUCTION, f"str({database}['NAME'])") == repr(str(PROJECT_DIR / "db.sqlite3"))


def test_origins_trusted_to_send_forms_come_from_a_comma_separated_list():
    env = {**PRODUCTION, "DJANGO_CSRF_TRUSTED_ORIGINS": "https://admin.example.com, https://shop.example.com"}

    assert settings_value(PRODUCTION, "settings.CSRF_TRUSTED_ORIGINS") == "[]"
    assert (
        settings_value(env, "settings.CSRF_TRUSTED_ORIGINS")
        == "['https://admin.example.com', 'https://shop.example.com']"
    )


def test_the_log_level_is_info_unless_django_log_level_says_otherwise():
    level = "settings.LOGGING['root']['level']"

    assert settings_value(PRODUCTION, level) == "'INFO'"
    assert settings_value({**PRODUCTION, "DJANGO_LOG_LEVEL": "warning"}, level) == "'WARNING'"


def log_an_error(env):
    """What Django's request logger writes, in a fresh interpreter with only `env` set: (stdout, stderr)."""
    code = SET_UP_DJANGO + "import logging; logging.getLogger('django.request').error('Server Error: /orders/')"
    env = {"PATH": "/usr/bin:/bin", **env}
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR, env=env, capture_output=True, text=True)
    return result.stdout, result.stderr


def test_djangos_warnings_and_errors_go_to_stdout_in_json_in_production():
    stdout, stderr = log_an_error(PRODUCTION)

    line = json.loads(stdout)
    assert {key: line[key] for key in ("level", "logger", "request_id", "message")} == {
        "level": "ERROR",
        "logger": "django.request",
        "request_id": "-",
        "message": "Server Error: /orders/",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}", line["time"])
    assert stderr == ""


@pytest.mark.parametrize(
    "env",
    [{**PRODUCTION, "DJANGO_LOG_FORMAT": "text"}, {**PRODUCTION, "DJANGO_DEBUG": "true"}],
    ids=["asked-for", "debug"],
)
def test_log_lines_are_text_when_asked_for_or_with_debug_on(env):
    stdout, _ = log_an_error(env)

    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ERROR django.request - Server Error: /orders/\n", stdout)


def test_debug_on_still_logs_json_when_asked_to():
    stdout, _ = log_an_error({**PRODUCTION, "DJANGO_DEBUG": "true", "DJANGO_LOG_FORMAT": " JSON "})

    assert json.loads(stdout)["message"] == "Server Error: /orders/"


def test_without_redis_url_the_cache_is_per_process_and_sessions_live_in_the_database():
    assert (
        settings_value(PRODUCTION, "settings.CACHES['default']['BACKEND']")
        == "'django.core.cache.backends.locmem.LocMemCache'"
    )
    assert settings_value(PRODUCTION, "settings.SESSION_ENGINE") == "'django.contrib.sessions.backends.db'"


def test_redis_url_gives_every_instance_one_cache_and_sessions_kept_in_it_and_the_database():
    env = {**PRODUCTION, "REDIS_URL": "redis://:secret@cache.internal:6379/0"}

    assert (
        settings_value(env, "settings.CACHES['default']['BACKEND']") == "'django.core.cache.backends.redis.RedisCache'"
    )
    assert settings_value(env, "settings.SESSION_ENGINE") == "'{{ cookiecutter.project_slug }}.plumbing.sessions'"


@pytest.mark.parametrize(("dyno", "checked"), [("web.1", False), (None, True)], ids=["on-heroku", "elsewhere"])
def test_a_rediss_certificate_is_checked_except_on_heroku_whose_certificates_are_self_signed(dyno, checked):
    env = {**PRODUCTION, "REDIS_URL": "rediss://:secret@cache.internal:6380/0", **({"DYNO": dyno} if dyno else {})}

    options = settings_value(env, "settings.CACHES['default']['OPTIONS']")
    assert ("'ssl_cert_reqs': None" not in options) is checked


def test_a_bad_database_url_is_not_echoed_because_it_holds_a_password():
    result = start_wsgi({**PRODUCTION, "DATABASE_URL": "nosuchdb://user:hunter2@host/db"})

    assert "DATABASE_URL is not a database URL" in result.stderr
    assert "hunter2" not in result.stderr


def test_an_unsafe_setting_stops_the_server_with_one_line_not_a_traceback():
    result = start_wsgi({**PRODUCTION, "DJANGO_ALLOWED_HOSTS": ""})

    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "DJANGO_ALLOWED_HOSTS is empty; list the host names this site answers to, comma-separated, "
        "e.g. example.com,www.example.com"
    ]


def serve(env, *args):
    """The Procfile's start command, with only `env` set."""
    return subprocess.run(
        [sys.executable, "-m", "{{ cookiecutter.project_slug }}.plumbing.server", *args],
        cwd=PROJECT_DIR,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def gunicorn_config(env):
    """gunicorn's settings as the start command resolves them (`--print-config`) with only `env` set."""
    result = serve(env, "--print-config")
    assert result.returncode == 0, result.stderr
    return dict(re.findall(r"^(\w+)\s+= (.*)$", result.stdout, re.MULTILINE))


def test_the_start_command_runs_gunicorn_with_its_config():
    config = gunicorn_config(PRODUCTION)
    # gunicorn's threaded worker, keeping a router's connections open longer than the router does.
    assert config["worker_class"] == "gthread"
    if gunicorn_internals.unsupported() is None:
        assert config["logger_class"] == "{{ cookiecutter.project_slug }}.plumbing.server.access_log.AccessLogger"
    else:  # a gunicorn release this project was not tested with: its own logger
        assert config["logger_class"] == "gunicorn.glogging.Logger"
    assert config["threads"] == str(DEFAULT_THREADS)
    assert config["worker_connections"] == "1000"
    assert config["keepalive"] == "95"
    assert gunicorn_config({**PRODUCTION, "GUNICORN_KEEPALIVE": "120"})["keepalive"] == "120"


def test_gunicorn_listens_on_port_when_a_platform_sets_it_and_on_this_machine_only_otherwise():
    listening = {DUAL_STACK: "['[::]:5123']", IPV6_ONLY: "['0.0.0.0:5123', '[::]:5123']", NO_IPV6: "['0.0.0.0:5123']"}
    assert gunicorn_config({**PRODUCTION, "PORT": "5123"})["bind"] == listening[ipv6_listening()]
    assert gunicorn_config(PRODUCTION)["bind"] == "['127.0.0.1:8000']"


def test_gunicorn_believes_the_https_header_from_this_machine_or_on_heroku_and_render_from_the_router():
    assert gunicorn_config(PRODUCTION)["forwarded_allow_ips"] == "['127.0.0.1', '::1', '::ffff:127.0.0.1']"
    assert gunicorn_config({**PRODUCTION, "DYNO": "web.1"})["forwarded_allow_ips"] == "['*']"
    assert (
        gunicorn_config({**PRODUCTION, "FORWARDED_ALLOW_IPS": "10.0.0.5"})["forwarded_allow_ips"]
        == "['10.0.0.5', '::ffff:10.0.0.5']"
    )


@pytest.mark.parametrize(
    ("variable", "value"), [("PORT", "99999"), ("FORWARDED_ALLOW_IPS", "proxy.internal")], ids=["port", "proxies"]
)
def test_a_bad_port_or_proxy_address_stops_the_start_command_with_one_line_naming_it(variable, value):
    result = serve({**PRODUCTION, variable: value}, "--print-config")

    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{variable} must be"), result.stderr


def test_the_start_command_refuses_a_bad_web_concurrency_with_one_line():
    """gunicorn itself would crash on it with a traceback before reading gunicorn.conf.py."""
    result = serve({**PRODUCTION, "WEB_CONCURRENCY": "two"}, "--print-config")

    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "WEB_CONCURRENCY must be a positive whole number of worker processes, got 'two'"
    ]


def test_production_starts_hsts_at_an_hour_for_this_host_only_without_preload():
    hsts = "(settings.SECURE_HSTS_SECONDS, settings.SECURE_HSTS_INCLUDE_SUBDOMAINS, settings.SECURE_HSTS_PRELOAD)"

    assert settings_value(PRODUCTION, hsts) == "(3600, False, False)"
    raised = {
        "DJANGO_SECURE_HSTS_SECONDS": "31536000",
        "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
        "DJANGO_SECURE_HSTS_PRELOAD": "true",
    }
    assert settings_value({**PRODUCTION, **raised}, hsts) == "(31536000, True, True)"
    assert settings_value({**PRODUCTION, "DJANGO_DEBUG": "true"}, "settings.SECURE_HSTS_SECONDS") == "0"


def test_the_deploy_check_names_the_step_that_raises_hsts_until_it_is_a_year():
    def check(env, *options):
        return subprocess.run(
            [sys.executable, "manage.py", "check", *options, "--fail-level", "WARNING"],
            cwd=PROJECT_DIR,
            # A mail server named, so that the only thing left to say is about HSTS.
            env={"PATH": "/usr/bin:/bin", "EMAIL_URL": "submission://ci:ci@smtp.example.com", **env},
            capture_output=True,
            text=True,
            timeout=60,
        )

    first_deploy = check(PRODUCTION, "--deploy")
    a_year = check({**PRODUCTION, "DJANGO_SECURE_HSTS_SECONDS": "31536000"}, "--deploy")
    not_deploying = check(PRODUCTION)

    # An Info: it names the step without failing CI's `check --deploy --fail-level WARNING`.
    assert first_deploy.returncode == 0, first_deploy.stderr
    assert "(settings.I001) HSTS lasts 3600 s." in first_deploy.stderr
    assert "raise DJANGO_SECURE_HSTS_SECONDS" in first_deploy.stderr
    assert a_year.returncode == 0, a_year.stderr
    assert "no issues" in a_year.stdout and "settings.I001" not in a_year.stderr
    # A deploy check: `migrate`, `runserver` and a plain `check` say nothing of it.
    assert "no issues" in not_deploying.stdout and "settings.I001" not in not_deploying.stderr


def test_in_production_the_session_and_csrf_cookies_are_https_only_and_hidden_from_scripts():
    cookies = (
        "(settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE, "
        "settings.SESSION_COOKIE_HTTPONLY, settings.CSRF_COOKIE_HTTPONLY)"
    )

    assert settings_value(PRODUCTION, cookies) == "(True, True, True, True)"
    # Local development runs over plain HTTP, where a Secure cookie would never come back.
    assert settings_value({**PRODUCTION, "DJANGO_DEBUG": "true"}, cookies) == "(False, False, True, True)"


@pytest.mark.parametrize(
    "database_url", [None, "postgres://app:secret@db.internal:5432/app"], ids=["sqlite", "postgresql"]
)
def test_a_connection_is_checked_before_a_request_uses_it(database_url):
    """So that a database restart costs no failed request: a dead connection is replaced, not used."""
    env = {**PRODUCTION, **({"DATABASE_URL": database_url} if database_url else {})}

    assert settings_value(env, "settings.DATABASES['default']['CONN_HEALTH_CHECKS']") == "True"


# Every variable the settings read, malformed: (variable, value, the start of its one line).
MALFORMED_SETTINGS = [
    ("DJANGO_DEBUG", "maybe", "DJANGO_DEBUG must be true or false"),
    ("DJANGO_LOG_LEVEL", "LOUD", "DJANGO_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'LOUD'."),
    ("DJANGO_CSRF_TRUSTED_ORIGINS", "admin.example.com", "DJANGO_CSRF_TRUSTED_ORIGINS must list origins with"),
    ("DJANGO_SECURE_SSL_REDIRECT", "sometimes", "DJANGO_SECURE_SSL_REDIRECT must be true or false"),
    ("DJANGO_SECURE_HSTS_SECONDS", "a-day", "DJANGO_SECURE_HSTS_SECONDS must be a whole number of at least 0"),
    ("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", "all", "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS must be true or false"),
    ("DJANGO_SECURE_HSTS_PRELOAD", "please", "DJANGO_SECURE_HSTS_PRELOAD must be true or false"),
    ("DATABASE_URL", "nosuchdb://user:hunter2@host/db", "DATABASE_URL is not a database URL"),
    ("DATABASE_SSL_REQUIRE", "always", "DATABASE_SSL_REQUIRE must be true or false"),
    ("REDIS_URL", "http://cache:6379/0", "REDIS_URL is not a Redis URL"),
    ("WEB_CONCURRENCY", "two", "WEB_CONCURRENCY must be a positive whole number"),
    ("GUNICORN_THREADS", "lots", "GUNICORN_THREADS must be a positive whole number"),
    ("GUNICORN_WORKER_MEMORY_MB", "big", "GUNICORN_WORKER_MEMORY_MB must be a positive whole number"),
    ("DATABASE_MAX_CONNECTIONS", "none", "DATABASE_MAX_CONNECTIONS must be a positive whole number"),
]
# Read only with PostgreSQL.
POSTGRES_SETTINGS = [
    ("DATABASE_CONNECT_TIMEOUT", "0", "DATABASE_CONNECT_TIMEOUT must be a whole number of at least 1"),
    ("DATABASE_POOL_TIMEOUT", "soon", "DATABASE_POOL_TIMEOUT must be a whole number of at least 1"),
]


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    MALFORMED_SETTINGS + POSTGRES_SETTINGS,
    ids=[case[0] for case in MALFORMED_SETTINGS + POSTGRES_SETTINGS],
)
def test_a_malformed_variable_stops_manage_py_with_one_line_naming_it(variable, value, line):
    env = {**PRODUCTION, "DATABASE_URL": "postgres://app:secret@db.internal:5432/app", variable: value}

    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=PROJECT_DIR,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert (result.stdout + result.stderr).strip().splitlines() == [result.stderr.strip()], result.stderr
    assert result.stderr.startswith(line) and "hunter2" not in result.stderr


def manage_py(env, *args):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_DIR,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "command", [["migrate", "--noinput"], ["check"], ["shell", "-c", "print('ran')"]], ids=" ".join
)
def test_an_unsafe_production_setting_stops_manage_py_with_one_line_per_problem(command, tmp_path):
    """The release phase is often the first to meet it: one line each, not Django's system-check report."""
    no_secrets = {"DJANGO_DEBUG": "false", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}

    result = manage_py(no_secrets, *command)

    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith("DJANGO_SECRET_KEY is not set;")
    assert lines[1].startswith("DJANGO_ALLOWED_HOSTS is empty;")
    assert not (tmp_path / "db.sqlite3").exists()


@pytest.mark.parametrize(
    "command",
    [["collectstatic", "--noinput", "--dry-run"], ["help"], [], ["--version"]],
    ids=lambda command: " ".join(command) or "no command",
)
def test_building_static_files_and_asking_for_help_need_no_production_secrets(command):
    """As a Docker build and Heroku's buildpack run collectstatic: before the secrets exist."""
    result = manage_py({"DJANGO_DEBUG": "false"}, *command)

    assert result.returncode == 0, result.stderr
    assert "DJANGO_SECRET_KEY" not in result.stderr
