"""Refuse to run in production with settings that would be unsafe there,
and warn of what production can run without (a mail server).

wsgi.py and asgi.py refuse to start serving with them, and manage.py
(`check` included) and the task worker refuse to run a command, each with
one line per problem. Django's system checks report them too, for commands
run another way (`django-admin`). `collectstatic` runs without them, so
static files can be built without secrets, as Docker builds and Heroku's
buildpack do.
"""

import os

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

# Render's generated values are 44 characters (256 random bits in base64);
# Django's own deploy check asks for 50, which Heroku's generated values meet.
MINIMUM_SECRET_KEY_LENGTH = 40
MINIMUM_SECRET_KEY_DISTINCT_CHARACTERS = 5
NEW_SECRET_KEY_COMMAND = "python -c 'import secrets; print(secrets.token_urlsafe(50))'"


def production_setting_problems():
    """One line per problem, naming the environment variable to fix."""
    if settings.DEBUG:
        return []
    problems = []
    try:
        secret_key = settings.SECRET_KEY
    except ImproperlyConfigured:  # Django refuses to hand out an empty key
        secret_key = ""
    if not secret_key:
        problems.append(
            f"DJANGO_SECRET_KEY is not set; production needs a long random value, e.g. from: {NEW_SECRET_KEY_COMMAND}"
        )
    elif (
        len(secret_key) < MINIMUM_SECRET_KEY_LENGTH
        or len(set(secret_key)) < MINIMUM_SECRET_KEY_DISTINCT_CHARACTERS
        or secret_key.startswith("django-insecure")
    ):
        problems.append(
            f"DJANGO_SECRET_KEY is too weak; use at least {MINIMUM_SECRET_KEY_LENGTH} random characters, "
            f"e.g. from: {NEW_SECRET_KEY_COMMAND}"
        )
    if not settings.ALLOWED_HOSTS:
        problems.append(
            "DJANGO_ALLOWED_HOSTS is empty; list the host names this site answers to, comma-separated, "
            "e.g. example.com,www.example.com"
        )
    return problems


def require_production_settings():
    problems = production_setting_problems()
    if problems:
        raise ImproperlyConfigured("\n".join(problems))


# What runs before production's secrets exist: building static files, and asking for help.
COMMANDS_WITHOUT_SECRETS = {"collectstatic", "help"}


def require_production_settings_for(argv):
    """Before `manage.py <argv>` runs: what Django's system checks would report at length, as one line each."""
    command = argv[1] if len(argv) > 1 else "help"
    if command not in COMMANDS_WITHOUT_SECRETS and not command.startswith("-"):
        require_production_settings()


@checks.register
def check_production_settings(app_configs, **kwargs):
    return [checks.Error(problem, id="settings.E001") for problem in production_setting_problems()]


# What browsers' preload lists ask for, and a common end point for HSTS.
ONE_YEAR = 365 * 24 * 3600


@checks.register(checks.Tags.security, deploy=True)
def check_hsts_raised(app_configs, **kwargs):
    """HSTS starts short (settings.py says why); this names the step that raises it, until it is taken."""
    if settings.DEBUG or not 0 < settings.SECURE_HSTS_SECONDS < ONE_YEAR:
        return []
    return [
        checks.Info(
            f"HSTS lasts {settings.SECURE_HSTS_SECONDS} s. Once every page has been served over HTTPS for a while, "
            f"raise DJANGO_SECURE_HSTS_SECONDS step by step (a day, a week, a month) to a year ({ONE_YEAR}); "
            "see the README, HTTPS and security headers.",
            id="settings.I001",
        )
    ]


@checks.register
def check_mail_server(app_configs, **kwargs):
    """Mail is optional: production starts without a mail server, and says so."""
    if settings.DEBUG or os.environ.get("EMAIL_URL", "").strip():
        return []
    return [
        checks.Warning(
            "EMAIL_URL is not set; mail (password resets, error reports) cannot be sent. "
            "Set it to the mail server, e.g. submission://user:password@smtp.example.com:587",
            id="settings.W001",
        )
    ]
