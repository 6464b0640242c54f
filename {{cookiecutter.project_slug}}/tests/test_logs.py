"""The log format (plumbing/logs.py): JSON in production, text with DEBUG on, DJANGO_LOG_FORMAT
deciding when set; Django's and gunicorn's loggers alike. test_settings.py and test_request_logs.py
read the lines themselves."""

import io
import json
import logging
import logging.config
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from {{ cookiecutter.project_slug }}.plumbing.logs import log_format, logging_config


@pytest.fixture
def environ(monkeypatch):
    for name in ("DJANGO_DEBUG", "DJANGO_LOG_FORMAT", "DJANGO_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch.setenv


@pytest.mark.parametrize(
    ("debug", "asked", "expected"),
    [
        (None, None, "json"),
        ("false", None, "json"),
        ("true", None, "text"),
        ("false", "text", "text"),
        ("true", "json", "json"),
        ("false", " Text ", "text"),
        ("true", "", "text"),
    ],
)
def test_the_format_is_json_in_production_and_text_with_debug_unless_asked_otherwise(environ, debug, asked, expected):
    if debug is not None:
        environ("DJANGO_DEBUG", debug)
    if asked is not None:
        environ("DJANGO_LOG_FORMAT", asked)

    assert log_format() == expected


def test_an_unknown_format_is_named_in_one_line(environ):
    environ("DJANGO_LOG_FORMAT", "yaml")

    with pytest.raises(ImproperlyConfigured) as error:
        log_format()
    assert str(error.value) == "DJANGO_LOG_FORMAT must be json or text, got 'yaml'."


def test_gunicorns_loggers_write_where_djangos_do_and_keep_gunicorns_level(environ):
    environ("DJANGO_LOG_LEVEL", "warning")
    config = logging_config()

    assert config["root"] == {"handlers": ["stdout"], "level": "WARNING"}
    for name in ("gunicorn.error", "gunicorn.access"):
        assert config["loggers"][name] == {"handlers": ["stdout"], "propagate": False}
    assert config["loggers"]["psycopg.pool"] == {"level": "WARNING"}


def test_the_level_is_info_unless_django_log_level_says_otherwise(environ):
    assert logging_config()["root"]["level"] == "INFO"


def test_everything_goes_to_stdout_and_loggers_made_before_keep_writing(environ, capsys):
    made_before = logging.getLogger("logs-test-made-before")
    logging.config.dictConfig(logging_config())
    try:
        made_before.warning("still here")
        [handler] = logging.getLogger().handlers
        assert handler.stream is sys.stdout
    finally:
        logging.config.dictConfig(logging_config())
    assert json.loads(capsys.readouterr().out)["message"] == "still here"


def written(config, extra=None):
    """The line a logger writes with `config`, its stdout handler pointed at a buffer."""
    stream = io.StringIO()
    config["handlers"]["stdout"]["stream"] = stream
    config["loggers"]["logs-test"] = {"handlers": ["stdout"], "propagate": False, "level": "INFO"}
    logging.config.dictConfig(config)
    try:
        logging.getLogger("logs-test").info("hello %s", "there", extra=extra)
    finally:
        logging.config.dictConfig(logging_config())
    return stream.getvalue()


def test_a_json_line_has_time_level_logger_request_id_message_and_any_fields_given(environ):
    line = json.loads(written(logging_config(), extra={"status": 200}))

    assert line.pop("time")
    assert line == {"level": "INFO", "logger": "logs-test", "request_id": "-", "message": "hello there", "status": 200}


def test_a_text_line_has_the_same_in_order(environ):
    environ("DJANGO_LOG_FORMAT", "text")

    assert written(logging_config()).split(" ", 2)[2] == "INFO logs-test - hello there\n"
