"""Mail: printed to the console while developing; in production sent to the
mail server EMAIL_URL names, from DJANGO_DEFAULT_FROM_EMAIL. The server here
is a real SMTP server (aiosmtpd), started by the test."""

import ast
import socket
import subprocess
import sys
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from {{ cookiecutter.project_slug }}.plumbing.checks import check_mail_server

PROJECT_DIR = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "a-strong-random-production-secret-key-" + "x1y2z3" * 5,
    "DJANGO_ALLOWED_HOSTS": "example.com",
}
# The admin's "Forgotten your password?" page, asked for a reset link, with
# the settings the environment gives, on a database of its own.
ASK_FOR_A_PASSWORD_RESET = """
import django
django.setup()
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
call_command("migrate", verbosity=0)
get_user_model().objects.create_user("ada", "ada@example.com", "a-long-password-for-tests")
client = Client(headers={"host": "example.com"})
response = client.post("/admin/password_reset/", {"email": "ada@example.com"}, secure=True)
assert response.status_code == 302, response.status_code
"""


class Inbox:
    """aiosmtpd's handler: keeps each mail the server accepts."""

    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def mail_server():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


def run_django(code, env):
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_DIR,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "{{ cookiecutter.project_slug }}.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_password_reset_mail_reaches_the_mail_server_from_the_default_from_address(mail_server, tmp_path):
    port, inbox = mail_server
    env = {
        **PRODUCTION,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "EMAIL_URL": f"smtp://127.0.0.1:{port}",
        "DJANGO_DEFAULT_FROM_EMAIL": "Billing <billing@example.com>",
    }

    result = run_django(ASK_FOR_A_PASSWORD_RESET, env)

    assert result.returncode == 0, result.stderr
    (envelope,) = inbox.envelopes
    mail = message_from_bytes(envelope.original_content, policy=default_policy)
    assert envelope.mail_from == "billing@example.com" and envelope.rcpt_tos == ["ada@example.com"]
    assert mail["From"] == "Billing <billing@example.com>"
    assert "https://example.com/reset/" in mail.get_body().get_content()


def settings_of(env, *names):
    code = "import django; django.setup(); from django.conf import settings; "
    code += f"print(repr([getattr(settings, name) for name in {list(names)!r}]))"
    result = run_django(code, env)
    assert result.returncode == 0, result.stderr
    return ast.literal_eval(result.stdout)
{%- if cookiecutter.django_version != "5.2" %}


def test_while_developing_mail_is_printed_to_the_console():
    (mailers,) = settings_of({"DJANGO_DEBUG": "true"}, "MAILERS")

    assert mailers == {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}


def test_in_production_without_email_url_mail_goes_to_djangos_default_smtp_on_this_machine():
    # The same as Django's own default: sending fails until EMAIL_URL names a server, and tests
    # (which swap every mailer for Django's outbox) can send.
    smtp = {"BACKEND": "django.core.mail.backends.smtp.EmailBackend"}
    assert settings_of(PRODUCTION, "MAILERS") == [{"default": smtp}]


def test_a_submission_url_sends_over_starttls_on_port_587_and_gives_up_on_a_silent_server_after_10_seconds():
    (mailers,) = settings_of({**PRODUCTION, "EMAIL_URL": "submission://apikey:p%40ss@smtp.example.com"}, "MAILERS")
    (with_ssl,) = settings_of({**PRODUCTION, "EMAIL_URL": "smtp://smtp.example.com:465?ssl=true&timeout=3"}, "MAILERS")

    assert mailers == {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": "smtp.example.com",
                "port": 587,
                "username": "apikey",
                "password": "p@ss",
                "use_tls": True,
                "use_ssl": False,
                "timeout": 10,
            },
        }
    }
    ssl_options = with_ssl["default"]["OPTIONS"]
    assert [ssl_options[option] for option in ("port", "use_tls", "use_ssl", "timeout")] == [465, False, True, 3]
{%- else %}


def test_while_developing_mail_is_printed_to_the_console():
    assert settings_of({"DJANGO_DEBUG": "true"}, "EMAIL_BACKEND") == ["django.core.mail.backends.console.EmailBackend"]


def test_a_submission_url_sends_over_starttls_on_port_587_and_gives_up_on_a_silent_server_after_10_seconds():
    env = {**PRODUCTION, "EMAIL_URL": "submission://apikey:p%40ss@smtp.example.com"}
    ssl_env = {**PRODUCTION, "EMAIL_URL": "smtp://smtp.example.com:465?ssl=true&timeout=3"}

    assert settings_of(env, "EMAIL_BACKEND", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD") == [
        "django.core.mail.backends.smtp.EmailBackend",
        "smtp.example.com",
        587,
        "apikey",
        "p@ss",
    ]
    assert settings_of(env, "EMAIL_USE_TLS", "EMAIL_USE_SSL", "EMAIL_TIMEOUT") == [True, False, 10]
    assert settings_of(ssl_env, "EMAIL_USE_TLS", "EMAIL_USE_SSL", "EMAIL_TIMEOUT") == [False, True, 3]
{%- endif %}


def test_mail_comes_from_the_domains_noreply_address_and_errors_from_the_same_unless_set():
    assert settings_of(PRODUCTION, "DEFAULT_FROM_EMAIL", "SERVER_EMAIL") == ["noreply@{{ cookiecutter.domain_name }}"] * 2
    env = {**PRODUCTION, "DJANGO_DEFAULT_FROM_EMAIL": "Shop <shop@example.com>"}
    assert settings_of(env, "SERVER_EMAIL") == ["Shop <shop@example.com>"]
    assert settings_of({**env, "DJANGO_SERVER_EMAIL": "errors@example.com"}, "SERVER_EMAIL") == ["errors@example.com"]


@pytest.fixture
def production(settings, monkeypatch):
    settings.DEBUG = False
    monkeypatch.delenv("EMAIL_URL", raising=False)
    return settings


def test_production_without_a_mail_server_warns_naming_email_url(production):
    (warning,) = check_mail_server(None)

    assert warning.id == "settings.W001" and warning.level == 30
    assert warning.msg == (
        "EMAIL_URL is not set; mail (password resets, error reports) cannot be sent. "
        "Set it to the mail server, e.g. submission://user:password@smtp.example.com:587"
    )


def test_no_warning_with_a_mail_server_or_while_developing(production, monkeypatch):
    monkeypatch.setenv("EMAIL_URL", "smtp://smtp.example.com")
    assert check_mail_server(None) == []
    monkeypatch.setenv("EMAIL_URL", " ")
    assert len(check_mail_server(None)) == 1
    production.DEBUG = True
    assert check_mail_server(None) == []
