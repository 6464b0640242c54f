"""Static files over HTTPS are answered before Django runs, exactly as
WhiteNoise's middleware inside Django would answer them: same status, same
headers (SecurityMiddleware's included), same bytes. Over plain HTTP,
Django answers as before."""

import json
import subprocess
from pathlib import Path

import pytest
from support.project import hashed_static_path, production_env

pytestmark = pytest.mark.slow

WSGI_CALLS = Path(__file__).parent / "support" / "wsgi_calls.py"


@pytest.fixture
def ask_both(built_project, project_python, tmp_path):
    def ask(requests, **env):
        """The wrapped application's and Django's own answers to `requests`, in-process."""
        output = tmp_path / "answers.json"
        result = subprocess.run(
            [str(project_python), str(WSGI_CALLS), built_project.name, json.dumps(requests), str(output)],
            cwd=built_project, env=production_env(project_python, PYTHONPATH=str(built_project), **env),
            capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(output.read_text())

    return ask


def static_requests(project_dir, scheme):
    stylesheet = hashed_static_path(project_dir, "css/site.css")
    admin_script = hashed_static_path(project_dir, "admin/js/core.js")
    # Larger than what is read whole (static_files.READ_WHOLE_MAX_BYTES): handed on as a file.
    big_script = hashed_static_path(project_dir, "admin/js/vendor/jquery/jquery.js")
    return [
        {"method": "GET", "path": stylesheet, "scheme": scheme, "headers": {"Accept-Encoding": "gzip, br"}},
        {"method": "GET", "path": stylesheet, "scheme": scheme, "headers": {"Accept-Encoding": "gzip"}},
        {"method": "GET", "path": stylesheet, "scheme": scheme},
        {"method": "HEAD", "path": stylesheet, "scheme": scheme, "headers": {"Accept-Encoding": "br"}},
        {"method": "GET", "path": stylesheet, "scheme": scheme, "if_none_match_from_get": True},
        {"method": "GET", "path": stylesheet, "scheme": scheme, "headers": {"Range": "bytes=0-9"}},
        {"method": "POST", "path": stylesheet, "scheme": scheme},
        {"method": "GET", "path": "/static/css/site.css", "scheme": scheme},
        {"method": "GET", "path": admin_script, "scheme": scheme, "headers": {"Accept-Encoding": "gzip, br"}},
        {"method": "GET", "path": big_script, "scheme": scheme},
        {"method": "GET", "path": big_script, "scheme": scheme, "headers": {"Range": "bytes=1000-299999"}},
    ]


def test_over_https_static_files_are_served_before_django_with_the_answer_django_gives(built_project, ask_both):
    requests = static_requests(built_project, "https")

    answers = ask_both(requests)

    for request, answer in zip(requests, answers):
        assert answer["wrapped"]["served_before_django"], request
        assert not answer["django"]["served_before_django"], request
        assert {**answer["wrapped"], "served_before_django": None} == {**answer["django"], "served_before_django": None}, request
    statuses = [answer["wrapped"]["status"] for answer in answers]
    assert statuses == ["200 OK"] * 4 + ["304 Not Modified", "206 Partial Content", "405 Method Not Allowed"] + ["200 OK"] * 3 + ["206 Partial Content"]
    headers = dict(answers[0]["wrapped"]["headers"])
    assert headers["Content-Encoding"] == "br"
    assert headers["Cache-Control"] == "max-age=315360000, public, immutable"
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_the_security_headers_follow_the_settings(built_project, ask_both):
    requests = static_requests(built_project, "https")[:1]

    (answer,) = ask_both(requests, DJANGO_SECURE_HSTS_SECONDS="600", DJANGO_SECURE_HSTS_PRELOAD="false")

    assert answer["wrapped"] == {**answer["django"], "served_before_django": True}
    assert dict(answer["wrapped"]["headers"])["Strict-Transport-Security"] == "max-age=600; includeSubDomains"


@pytest.mark.parametrize("redirect", ["true", "false"])
def test_over_plain_http_django_answers_as_before(built_project, ask_both, redirect):
    requests = static_requests(built_project, "http")[:1]

    (answer,) = ask_both(requests, DJANGO_SECURE_SSL_REDIRECT=redirect)

    assert answer["wrapped"] == answer["django"]
    assert not answer["wrapped"]["served_before_django"]
    assert answer["wrapped"]["status"] == ("301 Moved Permanently" if redirect == "true" else "200 OK")
    assert "Strict-Transport-Security" not in dict(answer["wrapped"]["headers"])
