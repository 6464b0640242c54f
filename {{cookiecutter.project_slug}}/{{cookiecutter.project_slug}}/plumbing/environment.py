"""Read settings from environment variables, failing with one clear line.

Each reader names the variable and says what it expects, so a typo in a
platform's config panel stops start-up with a message, not a traceback hunt.
"""

import os
from email.utils import parseaddr
from urllib.parse import parse_qs, urlsplit

import dj_email_url
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.validators import validate_email
from dotenv import dotenv_values, load_dotenv

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}


def env_str(name, default=""):
    return os.environ.get(name, default)


def env_bool(name, default):
    return parse_bool(name, os.environ.get(name), default)


def parse_bool(name, raw, default):
    if raw is None or raw.strip() == "":
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false (or 1/0, yes/no, on/off), got {raw!r}.")


def env_int(name, default, minimum=0):
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise ImproperlyConfigured(f"{name} must be a whole number of at least {minimum}, got {raw!r}.")
    return value


def env_list(name, default=()):
    """A comma-separated list; blanks around and between items are ignored."""
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def env_log_level(name, default):
    """One of Python's logging levels, in any case."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    level = raw.strip().upper()
    if level not in LOG_LEVELS:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(LOG_LEVELS)}, got {raw!r}.")
    return level


def env_origins(name):
    """A comma-separated list of origins, each with its scheme (https://admin.example.com)."""
    origins = env_list(name)
    for origin in origins:
        url = urlsplit(origin)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise ImproperlyConfigured(
                f"{name} must list origins with their scheme, comma-separated, e.g. https://admin.example.com; "
                f"got {origin!r}."
            )
    return origins


# Set by the platforms this project deploys to (Heroku, Render): a process
# that sees one is a deployed one, whatever files lie beside it.
PLATFORM_VARIABLES = ("DYNO", "RENDER")


def read_local_env_file(path):
    """Load `path` (.env) into the environment if it is local development's.

    A .env that a checkout carries onto a server (copied, rsynced) must not
    turn debug on there, so the file counts only when it turns DJANGO_DEBUG
    on itself, the environment does not set DJANGO_DEBUG (even blank), and
    no platform is named. Variables already in the environment win over the file.
    """
    if "DJANGO_DEBUG" in os.environ or any(env_str(name) for name in PLATFORM_VARIABLES):
        return
    if parse_bool(f"DJANGO_DEBUG in {path.name}", dotenv_values(path).get("DJANGO_DEBUG"), default=False):
        load_dotenv(path)


REDIS_URL_SCHEMES = ("redis", "rediss", "unix")


def env_redis_url(name):
    """A Redis URL, or "" when unset. An error says what is wrong, never the URL: it may hold a password."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return ""
    problem = redis_url_problem(urlsplit(raw))
    if problem:
        raise ImproperlyConfigured(
            f"{name} is not a Redis URL: {problem}; expected e.g. redis://:password@host:6379/0."
        )
    return raw


def redis_url_problem(url):
    if url.scheme not in REDIS_URL_SCHEMES:
        return "it must start with redis://, rediss:// or unix://"
    if url.scheme == "unix":
        return None if url.path else "a unix:// URL needs the socket's path"
    problem = server_address_problem(url)
    if problem:
        return problem
    database = url.path.strip("/")
    if database and not database.isdigit():
        return "its path must be a database number, like /0"
    return None


def server_address_problem(url):
    """What is wrong with a server URL's host and port, or None."""
    try:
        url.port  # noqa: B018 (reading it raises ValueError for a port that is no number)
    except ValueError:
        return "its port is not a number from 0 to 65535"
    if not url.hostname:
        return "it has no host"
    return None


EMAIL_URL_SCHEMES = ("smtp", "submission")
# A mail server that stops answering would hold the request sending the mail for good.
EMAIL_TIMEOUT_SECONDS = 10
{%- if cookiecutter.django_version != "5.2" %}
# Django's EMAIL_* settings, as dj-email-url names them, and the mailer OPTIONS they become.
MAILER_OPTIONS = {
    "EMAIL_HOST": "host",
    "EMAIL_PORT": "port",
    "EMAIL_HOST_USER": "username",
    "EMAIL_HOST_PASSWORD": "password",
    "EMAIL_USE_TLS": "use_tls",
    "EMAIL_USE_SSL": "use_ssl",
    "EMAIL_TIMEOUT": "timeout",
}
{%- endif %}


def env_email_url(name):
    """{% if cookiecutter.django_version != "5.2" %}A MAILERS entry{% else %}Django's EMAIL_* settings{% endif %} for the mail server a URL names (dj-email-url reads it), or {} when unset.

    An error says what is wrong, never the URL: it holds a password.
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return {}
    problem = email_url_problem(urlsplit(raw))
    if problem:
        raise ImproperlyConfigured(
            f"{name} is not a mail server URL: {problem}; expected e.g. submission://user:password@smtp.example.com:587."
        )
    given = {"EMAIL_TIMEOUT": EMAIL_TIMEOUT_SECONDS} | {
        setting: value for setting, value in dj_email_url.parse(raw).items() if value is not None
    }
{%- if cookiecutter.django_version != "5.2" %}
    return {
        "BACKEND": given["EMAIL_BACKEND"],
        "OPTIONS": {option: given[setting] for setting, option in MAILER_OPTIONS.items() if setting in given},
    }
{%- else %}
    return {setting: value for setting, value in given.items() if setting.startswith("EMAIL_")}
{%- endif %}


def email_url_problem(url):
    if url.scheme not in EMAIL_URL_SCHEMES:
        return "it must start with smtp:// or submission:// (STARTTLS, port 587 unless given)"
    problem = server_address_problem(url)
    if problem:
        return problem
    timeout = parse_qs(url.query).get("timeout", ["1"])[0]
    if not timeout.isdigit() or int(timeout) < 1:
        return "its timeout must be a whole number of seconds, 1 or more"
    return None


def env_email_address(name, default):
    """An address mail is sent from, bare or with a name: `Example <noreply@example.com>`."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        validate_email(parseaddr(raw)[1])
    except ValidationError:
        raise ImproperlyConfigured(
            f"{name} must be an email address, e.g. noreply@example.com or Example <noreply@example.com>, got {raw!r}."
        ) from None
    return raw
