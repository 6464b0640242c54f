"""Each environment reader: what it accepts, its default, and the one line it fails with."""

import os

import pytest
from django.core.exceptions import ImproperlyConfigured

from {{ cookiecutter.project_slug }}.plumbing.checks import (
    ONE_YEAR,
    check_hsts_raised,
    production_setting_problems,
    require_production_settings,
)
from {{ cookiecutter.project_slug }}.plumbing.environment import (
    env_bool,
    env_email_address,
    env_email_url,
    env_int,
    env_list,
    env_log_level,
    env_origins,
    env_redis_url,
    env_str,
    read_local_env_file,
)

NAME = "TEST_ENVIRONMENT_READER"


@pytest.fixture
def setting(monkeypatch):
    """Set NAME to a value, or leave it unset with None."""

    def set_to(value):
        if value is None:
            monkeypatch.delenv(NAME, raising=False)
        else:
            monkeypatch.setenv(NAME, value)

    return set_to


def test_a_string_is_read_as_is_or_defaults_when_unset(setting):
    setting(None)
    assert env_str(NAME, "fallback") == "fallback"
    assert env_str(NAME) == ""
    setting(" value ")
    assert env_str(NAME, "fallback") == " value "


@pytest.mark.parametrize("raw", ["1", "true", "Yes", " ON "])
def test_true_words_read_as_true(setting, raw):
    setting(raw)
    assert env_bool(NAME, default=False) is True


@pytest.mark.parametrize("raw", ["0", "false", "No", " off "])
def test_false_words_read_as_false(setting, raw):
    setting(raw)
    assert env_bool(NAME, default=True) is False


@pytest.mark.parametrize("raw", [None, "", "  "])
def test_an_unset_or_blank_boolean_takes_its_default(setting, raw):
    setting(raw)
    assert env_bool(NAME, default=True) is True
    assert env_bool(NAME, default=False) is False


def test_any_other_boolean_fails_naming_the_variable_and_the_value(setting):
    setting("maybe")
    with pytest.raises(ImproperlyConfigured) as error:
        env_bool(NAME, default=False)
    assert str(error.value) == f"{NAME} must be true or false (or 1/0, yes/no, on/off), got 'maybe'."


@pytest.mark.parametrize(("raw", "expected"), [(None, 9), ("", 9), (" ", 9), ("3", 3), ("12", 12)])
def test_a_whole_number_is_read_or_defaults_when_unset_or_blank(setting, raw, expected):
    setting(raw)
    assert env_int(NAME, default=9, minimum=3) == expected


@pytest.mark.parametrize("raw", ["2", "-1", "two", "3.5"])
def test_a_number_that_is_not_whole_or_below_the_minimum_fails(setting, raw):
    setting(raw)
    with pytest.raises(ImproperlyConfigured) as error:
        env_int(NAME, default=9, minimum=3)
    assert str(error.value) == f"{NAME} must be a whole number of at least 3, got {raw!r}."


def test_the_minimum_of_a_whole_number_is_zero_unless_given(setting):
    setting("0")
    assert env_int(NAME, default=9) == 0
    setting("-1")
    with pytest.raises(ImproperlyConfigured, match="at least 0"):
        env_int(NAME, default=9)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, ["x"]), ("", []), ("a", ["a"]), (" a , b,,c ,", ["a", "b", "c"]), ("a b", ["a b"])],
)
def test_a_list_is_comma_separated_and_blanks_are_ignored(setting, raw, expected):
    setting(raw)
    assert env_list(NAME, default=("x",)) == expected


@pytest.mark.parametrize(
    "raw",
    ["redis://cache:6379/0", " rediss://:secret@cache.example.com:6380 ", "redis://cache", "unix:///run/redis.sock"],
)
def test_a_redis_url_is_read_without_surrounding_blanks(setting, raw):
    setting(raw)
    assert env_redis_url(NAME) == raw.strip()


@pytest.mark.parametrize("raw", [None, "", "  "])
def test_an_unset_redis_url_reads_as_none_set(setting, raw):
    setting(raw)
    assert env_redis_url(NAME) == ""


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("http://:hunter2@cache:6379/0", "it must start with redis://, rediss:// or unix://"),
        ("unix://:hunter2@", "a unix:// URL needs the socket's path"),
        ("redis://:hunter2@cache:port/0", "its port is not a number from 0 to 65535"),
        ("redis://:hunter2@cache:70000/0", "its port is not a number from 0 to 65535"),
        ("redis://:hunter2@:6379/0", "it has no host"),
        ("redis://:hunter2@cache:6379/zero", "its path must be a database number, like /0"),
        ("redis://:hunter2@cache:6379/X", "its path must be a database number, like /0"),
    ],
)
def test_a_malformed_redis_url_fails_saying_why_but_never_the_url(setting, raw, problem):
    setting(raw)
    with pytest.raises(ImproperlyConfigured) as error:
        env_redis_url(NAME)
    assert str(error.value) == f"{NAME} is not a Redis URL: {problem}; expected e.g. redis://:password@host:6379/0."
    assert "hunter2" not in str(error.value)


@pytest.mark.parametrize("raw", [None, "", "  "])
def test_an_unset_mail_server_url_reads_as_no_settings(setting, raw):
    setting(raw)
    assert env_email_url(NAME) == {}
{%- if cookiecutter.django_version != "5.2" %}


def test_a_mail_server_url_gives_a_mailer_with_a_timeout_unless_it_names_one(setting):
    setting(" smtp://user:secret@mail.example.com:2525 ")
    assert env_email_url(NAME) == {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": "mail.example.com",
            "port": 2525,
            "username": "user",
            "password": "secret",
            "use_tls": False,
            "use_ssl": False,
            "timeout": 10,
        },
    }
    setting("smtp://mail.example.com?timeout=1")
    assert env_email_url(NAME)["OPTIONS"] == {
        "host": "mail.example.com",
        "port": 25,
        "use_tls": False,
        "use_ssl": False,
        "timeout": 1,
    }
{%- else %}


def test_a_mail_server_url_gives_djangos_settings_with_a_timeout_unless_it_names_one(setting):
    setting(" smtp://user:secret@mail.example.com:2525 ")
    assert env_email_url(NAME) == {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "mail.example.com",
        "EMAIL_PORT": 2525,
        "EMAIL_HOST_USER": "user",
        "EMAIL_HOST_PASSWORD": "secret",
        "EMAIL_USE_TLS": False,
        "EMAIL_USE_SSL": False,
        "EMAIL_FILE_PATH": "",
        "EMAIL_TIMEOUT": 10,
    }
    setting("smtp://mail.example.com?timeout=1&_default_from_email=x@example.com")
    settings = env_email_url(NAME)
    assert settings["EMAIL_TIMEOUT"] == 1 and "DEFAULT_FROM_EMAIL" not in settings
{%- endif %}


MAIL_SCHEME_PROBLEM = "it must start with smtp:// or submission:// (STARTTLS, port 587 unless given)"
MAIL_TIMEOUT_PROBLEM = "its timeout must be a whole number of seconds, 1 or more"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("https://user:hunter2@mail.example.com", MAIL_SCHEME_PROBLEM),
        ("smtps://user:hunter2@mail.example.com", MAIL_SCHEME_PROBLEM),
        ("mail.example.com", MAIL_SCHEME_PROBLEM),
        ("smtp://user:hunter2@:587", "it has no host"),
        ("submission://user:hunter2@mail.example.com:port", "its port is not a number from 0 to 65535"),
        ("smtp://user:hunter2@mail.example.com:70000", "its port is not a number from 0 to 65535"),
        ("smtp://user:hunter2@mail.example.com?timeout=soon", MAIL_TIMEOUT_PROBLEM),
        ("smtp://user:hunter2@mail.example.com?timeout=0", MAIL_TIMEOUT_PROBLEM),
        ("smtp://user:hunter2@mail.example.com?timeout=-5", MAIL_TIMEOUT_PROBLEM),
    ],
)
def test_a_malformed_mail_server_url_fails_saying_why_but_never_the_url(setting, raw, problem):
    setting(raw)
    with pytest.raises(ImproperlyConfigured) as error:
        env_email_url(NAME)
    assert str(error.value) == (
        f"{NAME} is not a mail server URL: {problem}; expected e.g. submission://user:password@smtp.example.com:587."
    )
    assert "hunter2" not in str(error.value)


@pytest.mark.parametrize("raw", ["noreply@example.com", " Shop <shop@example.com> ", '"Zoë, Inc." <z@example.org>'])
def test_an_email_address_is_read_bare_or_with_a_name(setting, raw):
    setting(raw)
    assert env_email_address(NAME, default="x@example.com") == raw.strip()


@pytest.mark.parametrize("raw", [None, "", " "])
def test_an_unset_email_address_takes_its_default(setting, raw):
    setting(raw)
    assert env_email_address(NAME, default="x@example.com") == "x@example.com"


@pytest.mark.parametrize("raw", ["noreply", "noreply@", "Billing <billing>", "a@example.com, b@example.com"])
def test_anything_but_one_email_address_fails_naming_the_variable(setting, raw):
    setting(raw)
    with pytest.raises(ImproperlyConfigured) as error:
        env_email_address(NAME, default="x@example.com")
    assert str(error.value) == (
        f"{NAME} must be an email address, e.g. noreply@example.com or Example <noreply@example.com>, got {raw!r}."
    )


STRONG_KEY = "abcde" * 8  # exactly the minimum: 40 characters, 5 distinct


@pytest.fixture
def production(settings):
    settings.DEBUG = False
    settings.SECRET_KEY = STRONG_KEY
    settings.ALLOWED_HOSTS = ["example.com"]
    return settings


def test_a_key_of_exactly_the_minimum_length_and_variety_is_accepted(production):
    assert production_setting_problems() == []


@pytest.mark.parametrize("key", [STRONG_KEY[:-1], "abcd" * 10], ids=["39 characters", "4 distinct characters"])
def test_a_key_one_short_of_the_minimum_length_or_variety_is_too_weak(production, key):
    production.SECRET_KEY = key
    assert [problem.split(";")[0] for problem in production_setting_problems()] == ["DJANGO_SECRET_KEY is too weak"]


def test_every_production_problem_is_reported_on_a_line_of_its_own(production):
    production.SECRET_KEY = "short"
    production.ALLOWED_HOSTS = []
    with pytest.raises(ImproperlyConfigured) as error:
        require_production_settings()
    lines = str(error.value).split("\n")
    assert [line.split(";")[0] for line in lines] == ["DJANGO_SECRET_KEY is too weak", "DJANGO_ALLOWED_HOSTS is empty"]


def test_debug_mode_has_no_production_problems(production):
    production.DEBUG = True
    production.SECRET_KEY = "short"
    assert production_setting_problems() == []


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, "INFO"), (" ", "INFO"), ("warning", "WARNING"), (" Debug ", "DEBUG")]
)
def test_a_log_level_is_read_in_any_case_or_defaults_when_unset_or_blank(setting, raw, expected):
    setting(raw)
    assert env_log_level(NAME, "INFO") == expected


@pytest.mark.parametrize("raw", ["LOUD", "10", "NOTSET", "WARN"])
def test_any_other_log_level_fails_naming_the_variable_and_the_levels(setting, raw):
    setting(raw)
    with pytest.raises(ImproperlyConfigured) as error:
        env_log_level(NAME, "INFO")
    assert str(error.value) == f"{NAME} must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got {raw!r}."


def test_origins_are_a_comma_separated_list_each_with_its_scheme(setting):
    setting(None)
    assert env_origins(NAME) == []
    setting("https://admin.example.com, http://localhost:8000")
    assert env_origins(NAME) == ["https://admin.example.com", "http://localhost:8000"]


@pytest.mark.parametrize("origin", ["admin.example.com", "ftp://admin.example.com", "https://"])
def test_an_origin_without_an_http_scheme_or_a_host_fails_naming_the_variable_and_the_origin(setting, origin):
    setting(f"https://shop.example.com,{origin}")
    with pytest.raises(ImproperlyConfigured) as error:
        env_origins(NAME)
    assert str(error.value) == (
        f"{NAME} must list origins with their scheme, comma-separated, e.g. https://admin.example.com; got {origin!r}."
    )


# --- .env: read for local development only ----------------------------------------------


@pytest.fixture
def local_env_file(tmp_path, monkeypatch):
    """A .env setting DJANGO_DEBUG as asked and a marker variable, with neither in the environment."""
    for name in ("DJANGO_DEBUG", "DYNO", "RENDER", "TEST_FROM_DOT_ENV"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / ".env"

    def write(debug):
        path.write_text(f"DJANGO_DEBUG={debug}\nTEST_FROM_DOT_ENV=read\n")
        return path

    yield write
    # load_dotenv writes to os.environ behind monkeypatch's back.
    for name in ("DJANGO_DEBUG", "TEST_FROM_DOT_ENV"):
        monkeypatch.delenv(name, raising=False)


def read_from(path):
    """What reading `path` left in the environment."""
    read_local_env_file(path)
    return os.environ.get("DJANGO_DEBUG"), os.environ.get("TEST_FROM_DOT_ENV")


def test_a_dot_env_that_turns_debug_on_is_read_when_nothing_else_says_otherwise(local_env_file):
    assert read_from(local_env_file("true")) == ("true", "read")


@pytest.mark.parametrize("debug", ["false", ""])
def test_a_dot_env_that_does_not_turn_debug_on_is_not_read(local_env_file, debug):
    assert read_from(local_env_file(debug)) == (None, None)


def test_a_dot_env_is_not_read_when_the_environment_sets_debug_itself(local_env_file, monkeypatch):
    monkeypatch.setenv("DJANGO_DEBUG", "false")
    assert read_from(local_env_file("true")) == ("false", None)


def test_a_dot_env_is_not_read_when_the_environment_sets_debug_even_blank(local_env_file, monkeypatch):
    monkeypatch.setenv("DJANGO_DEBUG", "")
    assert read_from(local_env_file("true")) == ("", None)


@pytest.mark.parametrize("platform", ["DYNO", "RENDER"])
def test_a_dot_env_is_not_read_on_a_platform(local_env_file, monkeypatch, platform):
    monkeypatch.setenv(platform, "web.1")
    assert read_from(local_env_file("true")) == (None, None)


def test_a_missing_dot_env_changes_nothing(local_env_file, tmp_path):
    assert read_from(tmp_path / ".env") == (None, None)


def test_a_malformed_debug_in_the_dot_env_fails_naming_the_file(local_env_file):
    with pytest.raises(ImproperlyConfigured) as error:
        read_local_env_file(local_env_file("maybe"))
    assert str(error.value) == "DJANGO_DEBUG in .env must be true or false (or 1/0, yes/no, on/off), got 'maybe'."


# --- HSTS: the deploy check names the step that raises it ---------------------------------


@pytest.mark.parametrize(
    ("seconds", "named"), [(0, False), (1, True), (3600, True), (ONE_YEAR - 1, True), (ONE_YEAR, False)]
)
def test_the_deploy_check_names_raising_hsts_while_it_is_on_and_short_of_a_year(production, seconds, named):
    production.SECURE_HSTS_SECONDS = seconds

    messages = check_hsts_raised(None)

    assert [message.id for message in messages] == (["settings.I001"] if named else [])
    if named:
        assert messages[0].msg == (
            f"HSTS lasts {seconds} s. Once every page has been served over HTTPS for a while, raise "
            "DJANGO_SECURE_HSTS_SECONDS step by step (a day, a week, a month) to a year (31536000); "
            "see the README, HTTPS and security headers."
        )


def test_in_debug_mode_the_deploy_check_says_nothing_of_hsts(production):
    production.DEBUG = True
    production.SECURE_HSTS_SECONDS = 3600
    assert check_hsts_raised(None) == []
