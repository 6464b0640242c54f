"""Logging for Django and gunicorn alike, in one of two formats.

json (production's default): one JSON object per line, which log search
tools (Heroku's add-ons, Render's log streams, Datadog, Loki...) read field
by field:

    {"time": "2026-12-07 03:58:00,123", "level": "INFO", "logger": "gunicorn.access",
     "request_id": "6f1c...", "message": "203.0.113.7 \\"GET / HTTP/1.1\\" 200 ...",
     "client": "203.0.113.7", "method": "GET", "path": "/", "status": 200, ...}

text (the default with DEBUG on): the same lines for a person at a terminal,

    2026-12-07 03:58:00,123 INFO gunicorn.access 6f1c... 203.0.113.7 "GET / HTTP/1.1" 200 ...

DJANGO_LOG_FORMAT=json|text picks one. Django's settings (LOGGING) and
gunicorn.conf.py (logconfig_dict) configure logging with the same
logging_config(), so that gunicorn's own lines and its access log come out
like Django's. Each line carries the id of the request it was written
for (request_id.py), "-" outside any request. The JSON comes from
python-json-logger, a JSON formatter for the standard library's logging.
"""

from django.core.exceptions import ImproperlyConfigured

from .environment import env_bool, env_log_level, env_str
from .request_id import current

LOG_FORMATS = ("json", "text")
FIELDS = "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s"


def log_format():
    """DJANGO_LOG_FORMAT, or json in production and text with DJANGO_DEBUG on."""
    raw = env_str("DJANGO_LOG_FORMAT").strip().lower()
    if not raw:
        return "text" if env_bool("DJANGO_DEBUG", default=False) else "json"
    if raw not in LOG_FORMATS:
        raise ImproperlyConfigured(f"DJANGO_LOG_FORMAT must be json or text, got {env_str('DJANGO_LOG_FORMAT')!r}.")
    return raw


def logging_config():
    """A logging.config.dictConfig() dictionary: everything to stdout, in the format the environment asks for."""
    formatter = {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": FIELDS,
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "text": {"format": FIELDS},
    }[log_format()]
    to_stdout = ["stdout"]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"lines": formatter},
        "filters": {"request_id": {"()": "{{ cookiecutter.project_slug }}.plumbing.logs.RequestIdFilter"}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "lines",
                "filters": ["request_id"],
            },
        },
        "root": {"handlers": to_stdout, "level": env_log_level("DJANGO_LOG_LEVEL", "INFO")},
        "loggers": {
            # Gunicorn's own loggers keep the level gunicorn gives them (--log-level), and write where the rest do.
            "gunicorn.error": {"handlers": to_stdout, "propagate": False},
            "gunicorn.access": {"handlers": to_stdout, "propagate": False},
            # The pool tells of every connection it opens at INFO; its warnings
            # (a failed connection attempt) are what matters.
            "psycopg.pool": {"level": "WARNING"},
        },
    }


class RequestIdFilter:
    """Puts the id of the request being served (request_id.py) on each line, as `request_id`."""

    def filter(self, record):
        record.request_id = current.get() or "-"
        return True
