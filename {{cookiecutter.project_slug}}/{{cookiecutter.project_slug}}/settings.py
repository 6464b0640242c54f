"""
Django settings for {{ cookiecutter.project_slug }}.

Everything that differs between machines comes from environment variables
(12-factor). Local development needs none of them: `manage.py` reads the
`.env` file written when the project was generated, which turns DEBUG on
(plumbing/environment.py says when it counts; the server never reads it).
Without it, every default is the safe production one. `.env.example` lists
every variable.
"""

import os
from pathlib import Path

import dj_database_url
{%- if cookiecutter.django_version == "5.2" %}
from csp.constants import NONE, SELF
{%- endif %}
from django.core.exceptions import ImproperlyConfigured
{%- if cookiecutter.django_version != "5.2" %}
from django.utils.csp import CSP
{%- endif %}

from .plumbing.environment import (
    env_bool,
    env_email_address,
    env_email_url,
    env_int,
    env_list,
    env_origins,
    env_redis_url,
    env_str,
)
from .plumbing.logs import logging_config
{%- if cookiecutter.sentry %}
from .plumbing.sentry import start_sentry
{%- endif %}
from .plumbing.server.network import NetworkSettingError, trusted_proxies
from .plumbing.server.sizing import SizingError, this_instance

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DJANGO_DEBUG", default=False)

# Production refuses to serve without a real key: see plumbing/checks.py.
SECRET_KEY = env_str("DJANGO_SECRET_KEY") or ("django-insecure-local-development-only" if DEBUG else "")

LOCAL_HOSTS = ["localhost", "127.0.0.1", "[::1]"]
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", default=LOCAL_HOSTS if DEBUG else [])
# Render gives every service a hostname it only knows at run time.
if env_str("RENDER_EXTERNAL_HOSTNAME"):
    ALLOWED_HOSTS.append(env_str("RENDER_EXTERNAL_HOSTNAME"))
CSRF_TRUSTED_ORIGINS = env_origins("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Before staticfiles, so `runserver` serves static files the way production does.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "{{ cookiecutter.project_slug }}.plumbing",
    "accounts",
{%- if cookiecutter.background_tasks %}
{%- if cookiecutter.django_version == "5.2" %}
    "django_tasks",
{%- endif %}
    "django_tasks_db",
{%- endif %}
]

MIDDLEWARE = [
    # First, so that every line logged for a request carries its id (plumbing/request_id.py).
    "{{ cookiecutter.project_slug }}.plumbing.request_id.RequestIdMiddleware",
    # Platform health checks arrive over plain HTTP with any Host header:
    # answer them before host validation and the HTTPS redirect.
    "{{ cookiecutter.project_slug }}.plumbing.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Right after SecurityMiddleware: static files skip the rest of the stack.
    "whitenoise.middleware.WhiteNoiseMiddleware",
{%- if cookiecutter.django_version == "5.2" %}
    "csp.middleware.CSPMiddleware",
{%- else %}
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
{%- endif %}
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A view that waited too long for a database connection answers 503.
    "{{ cookiecutter.project_slug }}.plumbing.database.DatabaseBusyMiddleware",
]

ROOT_URLCONF = "{{ cookiecutter.project_slug }}.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
{%- if cookiecutter.django_version != "5.2" %}
                # csp_nonce in templates, for an inline script the policy allows.
                "django.template.context_processors.csp",
{%- endif %}
            ],
        },
    },
]

WSGI_APPLICATION = "{{ cookiecutter.project_slug }}.wsgi.application"

# SQLite in a file when DATABASE_URL is unset; PostgreSQL in production.
try:
    DATABASES = {
        "default": dj_database_url.config(
            default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
            # Check a connection before a request uses it, so a database
            # restart costs no failed request.
            conn_health_checks=True,
            ssl_require=env_bool("DATABASE_SSL_REQUIRE", default=False),
        ),
    }
except ValueError as error:
    # The URL itself is not echoed: it holds the password.
    raise ImproperlyConfigured(
        f"DATABASE_URL is not a database URL ({error}); expected e.g. postgres://user:password@host:5432/dbname."
    ) from None
try:
    # The server's workers and threads, and how many database connections
    # each worker may hold (sizing.py; gunicorn.conf.py asks the same).
    server_size = this_instance(os.environ)
except SizingError as error:
    raise ImproperlyConfigured(str(error)) from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        # An unreachable database fails the readiness check in seconds, not minutes.
        connect_timeout=env_int("DATABASE_CONNECT_TIMEOUT", default=5, minimum=1),
        # A pool of connections in each server worker, shared by its threads:
        # the instance never holds more than DATABASE_MAX_CONNECTIONS, and a
        # request waits for a connection rather than opening one more than the
        # server allows (plumbing/database.py).
        pool={
            "min_size": 1,
            "max_size": server_size.connections_per_worker,
            "timeout": env_int("DATABASE_POOL_TIMEOUT", default=10, minimum=1),
            # After a database restart, connect again as soon as a request
            # asks, rather than at retries spaced further apart each time.
            "reconnect_timeout": 1,
        },
    )
else:
    # SQLite: each server thread keeps its connection to the file.
    DATABASES["default"]["CONN_MAX_AGE"] = 600

# A cache every instance shares, when REDIS_URL names one: Django's own
# Redis backend, and sessions kept in it with the database behind them, so
# a user stays logged in whichever instance answers, and stays logged in
# (on the database alone) while Redis is down (plumbing/sessions.py). Without it,
# each process caches in its own memory and sessions live in the database.
redis_url = env_redis_url("REDIS_URL")
if redis_url:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "OPTIONS": {
                # A Redis that is down or unreachable costs a request a second
                # at most, not the operating system's minutes-long timeouts.
                "socket_connect_timeout": 1,
                "socket_timeout": 1,
            },
        },
    }
    # Heroku's Key-Value Store speaks TLS (rediss://) with a certificate of
    # its own making, which no authority signs; the connection is encrypted
    # but its certificate cannot be checked. Elsewhere it is checked.
    if redis_url.startswith("rediss://") and env_str("DYNO"):
        CACHES["default"]["OPTIONS"]["ssl_cert_reqs"] = None
    SESSION_ENGINE = "{{ cookiecutter.project_slug }}.plumbing.sessions"
{%- if cookiecutter.background_tasks %}

# Background tasks ({{ cookiecutter.project_slug }}/tasks.py) wait in PostgreSQL until
# the worker (`python -m {{ cookiecutter.project_slug }}.plumbing.worker`) runs them.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
{%- endif %}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Mail (password resets, error reports to ADMINS) is printed to the console
# while developing. In production EMAIL_URL names the mail server; without
# it, Django's default (SMTP on this machine) finds none, and `manage.py`
# commands warn (plumbing/checks.py).
mail_server = env_email_url("EMAIL_URL")
{%- if cookiecutter.django_version != "5.2" %}
if mail_server:
    MAILERS = {"default": mail_server}
elif DEBUG:
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
else:
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.smtp.EmailBackend"}}
{%- else %}
if mail_server:
    # The EMAIL_* settings the URL gives.
    globals().update(mail_server)
elif DEBUG:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
{%- endif %}
DEFAULT_FROM_EMAIL = env_email_address("DJANGO_DEFAULT_FROM_EMAIL", default="noreply@{{ cookiecutter.domain_name }}")
# What error reports to ADMINS are sent from.
SERVER_EMAIL = env_email_address("DJANGO_SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)

# The project's own user model (accounts/models.py), so that it can grow fields later.
AUTH_USER_MODEL = "accounts.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "{{ cookiecutter.time_zone }}"
USE_I18N = True
USE_TZ = True

# Static files: collected at build time, compressed (gzip and brotli) and
# renamed with a content hash, then served by WhiteNoise with a far-future
# immutable cache header. Gunicorn never reads a static file itself.
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Security. The defaults suit an app behind a TLS-terminating proxy
# (Heroku, Render, a load balancer); gunicorn.conf.py decides which proxies
# may say a request came over HTTPS.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
# HSTS starts at an hour: a browser that saw it refuses plain HTTP to this
# host until it expires, so a first deploy with a certificate problem locks
# visitors out for an hour, not a year. Raise it once HTTPS has held (README:
# HTTPS and security headers); `check --deploy` reminds you until then.
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 3600)
# Off: the app can vouch for its own host only, not for every other host
# under its domain (mail, an old HTTP-only site), which would be cut off.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
# Asks browsers to build the host into their lists, which takes months to undo.
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
# Django's deploy checks ask for both from the first deploy; plumbing/checks.py
# says instead when and how to raise HSTS.
SILENCED_SYSTEM_CHECKS = ["security.W005", "security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
{%- if cookiecutter.django_version == "5.2" %}
# Content-Security-Policy (django-csp): scripts, styles, images, fonts and
# fetches from this site only, no inline code, no plugins, no framing. The
# landing page and the admin need nothing more. Allow a CDN by adding it to
# a directive; for an inline <script>, use a nonce (request.csp_nonce)
# rather than 'unsafe-inline'. Django's debug error pages are exempt.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "object-src": [NONE],
    },
}
{%- else %}
# Content-Security-Policy (Django's own): scripts, styles, images, fonts and
# fetches from this site only, no inline code, no plugins, no framing. The
# landing page and the admin need nothing more. Allow a CDN by adding it to
# a directive; for an inline <script>, add CSP.NONCE to "script-src" and
# give the tag a nonce attribute with the template variable csp_nonce,
# rather than allowing 'unsafe-inline'.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "object-src": [CSP.NONE],
}
{%- endif %}
SESSION_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_HTTPONLY = True

# Everything goes to stdout, where platforms collect logs: one JSON object a
# line in production, plain text with DEBUG on, or as DJANGO_LOG_FORMAT
# (json|text) says; each line with its request's id (plumbing/logs.py).
LOGGING = logging_config()
try:
    # The proxies whose X-Request-ID (or Rndr-Id) is believed: those gunicorn believes about HTTPS.
    TRUSTED_PROXIES = trusted_proxies(os.environ)
except NetworkSettingError as error:
    raise ImproperlyConfigured(str(error)) from None
# A request the app takes longer than this over logs a warning with its id; 0 turns it off.
SLOW_REQUEST_MS = env_int("DJANGO_SLOW_REQUEST_MS", default=1000)
{%- if cookiecutter.sentry %}

# Errors to Sentry once SENTRY_DSN is set, each tagged with its request's id;
# traces only at SENTRY_TRACES_SAMPLE_RATE (plumbing/sentry.py).
start_sentry(STATIC_URL)
{%- endif %}
