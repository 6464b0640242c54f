"""What a visitor and a load balancer see. Requests say they came over
HTTPS, as they do behind the platform's TLS-terminating router."""

import html
import logging
import re
from html.parser import HTMLParser

import psycopg
import pytest
{%- if cookiecutter.django_version == "5.2" %}
from csp.constants import NONCE
from csp.middleware import CSPMiddleware
{%- endif %}
from django.db import OperationalError
from django.http import HttpResponse
{%- if cookiecutter.django_version != "5.2" %}
from django.middleware.csp import ContentSecurityPolicyMiddleware
{%- endif %}
from django.template import engines
from django.template.base import VARIABLE_TAG_END, VARIABLE_TAG_START
{%- if cookiecutter.django_version != "5.2" %}
from django.utils.csp import CSP
{%- endif %}


@pytest.fixture
def database_down(monkeypatch):
    """Every way to the database refused: Django's cursors, and (on PostgreSQL) the connection pool."""

    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    def refuse_pooled(*args, **kwargs):
        raise psycopg.OperationalError("connection refused")

    monkeypatch.setattr("django.db.backends.base.base.BaseDatabaseWrapper.cursor", refuse)
    monkeypatch.setattr("psycopg_pool.ConnectionPool.getconn", refuse_pooled)


def test_the_landing_page_shows_the_project_and_links_its_stylesheet(client):
    response = client.get("/", secure=True)

    assert response.status_code == 200
    assert {{ cookiecutter.project_name|tojson }} in html.unescape(response.content.decode())
    assert b'href="/static/css/site.css"' in response.content


def test_liveness_answers_200_even_when_the_database_is_down(client, database_down):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.content == b"ok"
    assert response["Cache-Control"] == "no-store"


def test_liveness_answers_plain_http_for_any_host(client):
    response = client.get("/healthz", HTTP_HOST="10.0.0.7:8000")

    assert response.status_code == 200


@pytest.mark.django_db
def test_readiness_answers_200_when_the_database_answers(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.content == b"ok"


def test_readiness_answers_503_when_the_database_does_not(client, database_down, caplog):
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.content == b"database unavailable"
    assert (
        "{{ cookiecutter.project_slug }}.plumbing.health",
        logging.WARNING,
        "Readiness check failed: the database did not answer: connection refused",
    ) in caplog.record_tuples


def test_readiness_answers_200_naming_the_load_while_every_pooled_connection_is_busy(client, monkeypatch):
    busy = ("busy", "all 4 connections in use")
    monkeypatch.setattr("{{ cookiecutter.project_slug }}.plumbing.health.database_state", lambda: busy)

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.content == b"ok: busy, all 4 connections in use"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_answers_are_uncached_plain_text_of_a_declared_length(client, path):
    response = client.get(path)

    assert response["Content-Type"] == "text/plain"
    assert response["Cache-Control"] == "no-store"
    assert response["Content-Length"] == str(len(response.content))


@pytest.mark.django_db
def test_the_admin_asks_for_a_login(client):
    response = client.get("/admin/", secure=True)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


class InlineCode(HTMLParser):
    """What a Content-Security-Policy without 'unsafe-inline' blocks."""

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names or tag == "style":
            self.found.append(f"<{tag}>")
        self.found += [f"{name}= on <{tag}>" for name in names if name == "style" or name.startswith("on")]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/admin/login/"])
def test_pages_send_a_content_security_policy_they_satisfy(client, path):
    response = client.get(path, secure=True)
    page = InlineCode()
    page.feed(response.content.decode())

    assert response.status_code == 200
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert page.found == []


def test_an_inline_script_given_the_pages_nonce_is_one_the_policy_allows(settings, rf):
    """The way the settings' comment gives for an inline script, followed as written."""
{%- if cookiecutter.django_version == "5.2" %}
    directives = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {**directives, "script-src": [*directives["default-src"], NONCE]}}
    nonce_variable = f"{VARIABLE_TAG_START} request.csp_nonce {VARIABLE_TAG_END}"
    middleware = CSPMiddleware
{%- else %}
    settings.SECURE_CSP = {**settings.SECURE_CSP, "script-src": [*settings.SECURE_CSP["default-src"], CSP.NONCE]}
    nonce_variable = f"{VARIABLE_TAG_START} csp_nonce {VARIABLE_TAG_END}"
    middleware = ContentSecurityPolicyMiddleware
{%- endif %}
    template = engines["django"].from_string(f'<script nonce="{nonce_variable}">go()</script>')

    def page_with_an_inline_script(request):
        return HttpResponse(template.render(request=request))

    response = middleware(page_with_an_inline_script)(rf.get("/"))
    nonce = re.fullmatch(r'<script nonce="([^"]+)">go\(\)</script>', response.content.decode())[1]

    assert f"'nonce-{nonce}'" in response["Content-Security-Policy"]
