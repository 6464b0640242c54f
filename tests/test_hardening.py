"""Bad input and security defaults, against the baked project as deployed
(no .env) started by the Procfile's web command: a bad environment stops it
with one line, hostile HTTP gets 4xx from the right limit, static files
never leave STATIC_ROOT, and the security headers hold behind a proxy
without letting a direct client claim HTTPS."""

import http.client
import re
import shlex
import shutil
import socket
import subprocess
import time

import pytest
from support.inotify import OpenWatch
from support.load import VIA_HTTPS
from support.network import http_get
from support.project import hashed_static_path, procfile_command, production_env, run, running_server

pytestmark = pytest.mark.slow

# HSTS of a first deploy: an hour, this host only, no preloading.
FIRST_HSTS = "max-age=3600"
# A proxy in front of the app; any loopback address is this machine.
PROXY_ADDRESS = "127.0.0.2"


@pytest.fixture(scope="module")
def superuser_password(fault_project, project_python):
    password = "a-long-admin-password-for-tests"
    env = production_env(project_python, DJANGO_SUPERUSER_PASSWORD=password)
    run([str(project_python), "manage.py", "createsuperuser", "--noinput", "--username", "hardening", "--email", "a@example.com"], fault_project, env)
    return password


@pytest.fixture(scope="module")
def server(fault_project, project_python, tmp_path_factory):
    env = production_env(project_python)
    with running_server(procfile_command(fault_project, "web"), fault_project, env, tmp_path_factory.mktemp("gunicorn") / "log") as server:
        yield server


def raw_status(port, request_bytes):
    """The status line gunicorn answers `request_bytes` with."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(request_bytes)
        return client.recv(4096).split(b"\r\n")[0].decode()


def head(path, extra=b""):
    return b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n" + extra + b"\r\n"


# --- A bad environment stops start-up with one line ----------------------------------

# Variables the settings read, malformed, which the start command, the release
# command and the container must each refuse with the same one line. The
# PostgreSQL ones are read only with a PostgreSQL DATABASE_URL; nothing connects.
# A value of None means the variable is unset.
POSTGRES_URL = "postgres://app:hunter2@db.invalid:5432/app"
MALFORMED_SETTINGS = [
    pytest.param("DJANGO_SECRET_KEY", None, "DJANGO_SECRET_KEY is not set; production needs a long random value, e.g. from: python -c", id="secret-missing"),
    pytest.param("DJANGO_SECRET_KEY", "too-short", "DJANGO_SECRET_KEY is too weak; use at least 40 random characters", id="secret-short"),
    pytest.param("DJANGO_SECRET_KEY", "django-insecure-" + "x" * 50, "DJANGO_SECRET_KEY is too weak", id="secret-insecure"),
    pytest.param("DJANGO_ALLOWED_HOSTS", "", "DJANGO_ALLOWED_HOSTS is empty; list the host names this site answers to", id="hosts-empty"),
    pytest.param("DJANGO_DEBUG", "maybe", "DJANGO_DEBUG must be true or false (or 1/0, yes/no, on/off), got 'maybe'", id="debug-word"),
    pytest.param("DJANGO_LOG_LEVEL", "LOUD", "DJANGO_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'LOUD'.", id="log-level"),
    pytest.param("DJANGO_CSRF_TRUSTED_ORIGINS", "admin.example.com", "DJANGO_CSRF_TRUSTED_ORIGINS must list origins with their scheme", id="csrf-origins"),
    pytest.param("DJANGO_SECURE_SSL_REDIRECT", "sometimes", "DJANGO_SECURE_SSL_REDIRECT must be true or false", id="ssl-redirect"),
    pytest.param("DJANGO_SECURE_HSTS_SECONDS", "a-year", "DJANGO_SECURE_HSTS_SECONDS must be a whole number of at least 0, got 'a-year'", id="hsts-word"),
    pytest.param("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", "all", "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS must be true or false", id="hsts-subdomains"),
    pytest.param("DJANGO_SECURE_HSTS_PRELOAD", "please", "DJANGO_SECURE_HSTS_PRELOAD must be true or false", id="hsts-preload"),
    pytest.param("DATABASE_URL", "nosuchdb://admin:hunter2@db/app", "DATABASE_URL is not a database URL", id="database-url-scheme"),
    pytest.param("DATABASE_URL", "postgres://admin:hunter2@db:port/app", "DATABASE_URL is not a database URL", id="database-url-port"),
    pytest.param("DATABASE_SSL_REQUIRE", "always", "DATABASE_SSL_REQUIRE must be true or false", id="database-ssl"),
    pytest.param("DATABASE_CONNECT_TIMEOUT", "0", "DATABASE_CONNECT_TIMEOUT must be a whole number of at least 1, got '0'", id="connect-timeout"),
    pytest.param("DATABASE_POOL_TIMEOUT", "soon", "DATABASE_POOL_TIMEOUT must be a whole number of at least 1, got 'soon'", id="pool-timeout"),
    pytest.param("DATABASE_MAX_CONNECTIONS", "0", "DATABASE_MAX_CONNECTIONS must be a positive whole number of database connections for this instance", id="max-connections-zero"),
    pytest.param("DATABASE_MAX_CONNECTIONS", "-1", "DATABASE_MAX_CONNECTIONS must be a positive whole number of database connections", id="max-connections-negative"),
    pytest.param("DATABASE_MAX_CONNECTIONS", "abc", "DATABASE_MAX_CONNECTIONS must be a positive whole number of database connections", id="max-connections-word"),
    pytest.param("WEB_CONCURRENCY", "two", "WEB_CONCURRENCY must be a positive whole number of worker processes, got 'two'", id="web-concurrency"),
    pytest.param("GUNICORN_THREADS", "lots", "GUNICORN_THREADS must be a positive whole number of threads per worker, got 'lots'", id="threads-word"),
    pytest.param("GUNICORN_WORKER_MEMORY_MB", "big", "GUNICORN_WORKER_MEMORY_MB must be a positive whole number", id="worker-memory"),
    pytest.param("REDIS_URL", "http://:hunter2@cache:6379/0", "REDIS_URL is not a Redis URL: it must start with redis://, rediss:// or unix://", id="redis-url-scheme"),
    pytest.param("REDIS_URL", "redis://:hunter2@cache:port/0", "REDIS_URL is not a Redis URL: its port is not a number", id="redis-url-port"),
    pytest.param("REDIS_URL", "rediss://:hunter2@/0", "REDIS_URL is not a Redis URL: it has no host", id="redis-url-host"),
    pytest.param("EMAIL_URL", "https://apikey:hunter2@smtp.example.com", "EMAIL_URL is not a mail server URL: it must start with smtp://", id="email-url-scheme"),
    pytest.param("EMAIL_URL", "submission://apikey:hunter2@smtp.example.com:port", "EMAIL_URL is not a mail server URL: its port is not a number", id="email-url-port"),
    pytest.param("EMAIL_URL", "smtp://apikey:hunter2@/", "EMAIL_URL is not a mail server URL: it has no host", id="email-url-host"),
    pytest.param("DJANGO_DEFAULT_FROM_EMAIL", "noreply", "DJANGO_DEFAULT_FROM_EMAIL must be an email address, e.g. noreply@example.com", id="from-email"),
    pytest.param("DJANGO_DEFAULT_FROM_EMAIL", "a@example.com, b@example.com", "DJANGO_DEFAULT_FROM_EMAIL must be an email address", id="from-email-two"),
    pytest.param("DJANGO_SERVER_EMAIL", "Errors <errors>", "DJANGO_SERVER_EMAIL must be an email address", id="server-email"),
]
# Variables only the server reads, before Django's settings.
MALFORMED_SERVER_SETTINGS = [
    pytest.param("PORT", "99999", "PORT must be a port number from 1 to 65535, got '99999'", id="port-too-high"),
    pytest.param("PORT", "http", "PORT must be a port number from 1 to 65535, got 'http'", id="port-word"),
    pytest.param("FORWARDED_ALLOW_IPS", "proxy.internal", "FORWARDED_ALLOW_IPS must be * or IP addresses or networks", id="proxy-not-an-address"),
    pytest.param("FORWARDED_ALLOW_IPS", "10.0.0.0/33", "FORWARDED_ALLOW_IPS must be * or IP addresses or networks", id="proxy-bad-cidr"),
    pytest.param("GUNICORN_KEEPALIVE", "90s", "GUNICORN_KEEPALIVE must be a whole number of seconds (0 closes every connection), got '90s'", id="keepalive-word"),
]


def with_malformed(env, variable, value):
    """`env` with `variable` set to `value`, or unset for None (PostgreSQL's timeouts are read only with a PostgreSQL URL)."""
    env = {name: setting for name, setting in env.items() if name != variable}
    if value is not None:
        env[variable] = value
    if variable in ("DATABASE_CONNECT_TIMEOUT", "DATABASE_POOL_TIMEOUT"):
        env["DATABASE_URL"] = POSTGRES_URL
    return env


def refusal(fault_project, process, env):
    """The Procfile's `process` run with `env`: its exit status and the lines it wrote."""
    result = subprocess.run(
        shlex.split(procfile_command(fault_project, process)), cwd=fault_project, env=env,
        capture_output=True, text=True, timeout=60,
    )
    return result.returncode, (result.stdout + result.stderr).strip().splitlines()


@pytest.mark.parametrize(("variable", "value", "line"), [*MALFORMED_SETTINGS, *MALFORMED_SERVER_SETTINGS])
def test_a_bad_production_environment_stops_start_up_with_one_line_naming_the_variable(fault_project, project_python, variable, value, line):
    returncode, output = refusal(fault_project, "web", with_malformed(production_env(project_python), variable, value))

    assert returncode != 0
    assert len(output) == 1, "\n".join(output)
    assert output[0].startswith(variable) and line in output[0]
    assert "hunter2" not in output[0]  # a URL's password stays out of logs


@pytest.mark.parametrize(("variable", "value", "line"), MALFORMED_SETTINGS)
def test_a_malformed_variable_stops_the_release_command_with_the_same_one_line(fault_project, project_python, variable, value, line):
    """The release phase (`manage.py migrate`) often meets a bad variable before the server does."""
    returncode, output = refusal(fault_project, "release", with_malformed(production_env(project_python), variable, value))

    assert returncode != 0
    assert len(output) == 1, "\n".join(output)
    assert output[0].startswith(variable) and line in output[0]
    assert "hunter2" not in output[0]


# --- Hostile HTTP ---------------------------------------------------------------------


def test_a_response_gunicorn_refuses_to_send_reaches_the_client_as_a_500_with_its_access_log_line(server):
    status, _, _ = http_get(server.port, "/faults/bad-header", VIA_HTTPS)

    deadline = time.monotonic() + 10
    while '"GET /faults/bad-header HTTP/1.1" 500' not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status == 500
    assert '"GET /faults/bad-header HTTP/1.1" 500' in server.log()


def test_a_host_header_not_in_allowed_hosts_gets_400_not_500(server):
    assert http_get(server.port, "/", {**VIA_HTTPS, "Host": "evil.example"})[0] == 400


def test_an_oversized_request_line_is_refused_by_gunicorn(server):
    assert raw_status(server.port, head(b"/" + b"a" * 5000)) == "HTTP/1.1 414 URI Too Long"


@pytest.mark.parametrize(
    "headers",
    [b"X-Big: " + b"a" * 9000 + b"\r\n", b"".join(b"X-Header-%d: v\r\n" % n for n in range(101))],
    ids=["one-huge-header", "too-many-headers"],
)
def test_oversized_headers_are_refused_by_gunicorn(server, headers):
    assert raw_status(server.port, head(b"/", headers)) == "HTTP/1.1 431 Request Header Fields Too Large"


def test_an_oversized_body_is_refused_by_django(server):
    # Past DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB), posted to the admin's login form
    # with what the CSRF check wants, so that Django reads the body.
    body = b"username=" + b"a" * (3 * 1024 * 1024)
    request = (
        b"POST /admin/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n"
        b"Referer: https://127.0.0.1/admin/login/\r\nCookie: csrftoken=" + b"c" * 32 + b"\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    assert raw_status(server.port, request + body) == "HTTP/1.1 400 Bad Request"
    assert "RequestDataTooBig" in server.log()


# --- Static files ---------------------------------------------------------------------

TRAVERSALS = [
    b"/static/../manage.py",
    b"/static/css/../../manage.py",
    b"/static/..%2fmanage.py",
    b"/static/%2e%2e/%2e%2e/canary.txt",
    b"/static/..%2f..%2fcanary.txt",
    b"/static/%2e%2e%2fmy_service%2fsettings.py",
    b"/static/..%5cmanage.py",
    b"/static//etc/passwd",
    b"/static/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
]


def test_path_traversal_on_static_gets_404_and_opens_nothing_outside_static_root(server, fault_project):
    canary = fault_project.parent / "canary.txt"
    canary.write_text("outside STATIC_ROOT")
    outside = [canary, fault_project / "manage.py", fault_project / fault_project.name / "settings.py", "/etc/passwd"]
    http_get(server.port, "/static/css/site.css", VIA_HTTPS)  # each worker's lazy imports are not the test

    with OpenWatch(outside) as watch:
        statuses = {path.decode(): raw_status(server.port, head(path)) for path in TRAVERSALS}
        touched = watch.touched()
        open(canary).close()  # the watch does see an open
        assert watch.touched() == {str(canary)}

    assert statuses == {path.decode(): "HTTP/1.1 404 Not Found" for path in TRAVERSALS}
    assert touched == set()


def test_static_files_are_only_the_collected_ones_never_source_files(server, fault_project):
    static_root = fault_project / "staticfiles"
    source_paths = ["/static/manage.py", f"/static/{fault_project.name}/settings.py", "/static/settings.py", "/static/.env", "/static/requirements.txt"]

    assert sorted(path.name for path in static_root.rglob("*.py")) == []
    assert {path: http_get(server.port, path, VIA_HTTPS)[0] for path in source_paths} == {path: 404 for path in source_paths}
    assert http_get(server.port, "/static/css/site.css", VIA_HTTPS)[0] == 200


# --- Security headers behind a TLS-terminating proxy ----------------------------------


def assert_security_headers(headers):
    assert headers["strict-transport-security"] == FIRST_HSTS
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert headers["x-frame-options"] == "DENY"
    policy = dict(directive.strip().split(" ", 1) for directive in headers["content-security-policy"].split(";"))
    assert policy["default-src"] == "'self'"
    assert policy["object-src"] == policy["frame-ancestors"] == policy["base-uri"] == "'none'"
    assert "unsafe-inline" not in headers["content-security-policy"]


@pytest.mark.parametrize("path", ["/", "/admin/login/"])
def test_pages_over_https_carry_every_security_header(server, path):
    status, headers, _ = http_get(server.port, path, VIA_HTTPS)

    assert status == 200
    assert_security_headers(headers)


def test_a_static_file_over_https_carries_the_security_headers_a_page_does(server, fault_project):
    status, headers, _ = http_get(server.port, hashed_static_path(fault_project, "css/site.css"), VIA_HTTPS)

    assert status == 200
    assert headers["strict-transport-security"] == FIRST_HSTS
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["cross-origin-opener-policy"] == "same-origin"


def test_plain_http_is_redirected_to_https_except_the_health_checks(server):
    status, headers, _ = http_get(server.port, "/admin/login/", {"Host": "localhost"})

    assert (status, headers["location"]) == (301, "https://localhost/admin/login/")
    assert http_get(server.port, "/healthz")[0] == 200
    assert http_get(server.port, "/readyz")[0] == 200


def test_the_session_and_csrf_cookies_are_secure_and_http_only(server, superuser_password):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", "/admin/login/", headers=VIA_HTTPS)
    login_page = connection.getresponse()
    csrf_cookie = login_page.getheader("Set-Cookie")
    page = login_page.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    csrf_value = re.match(r"csrftoken=([^;]+)", csrf_cookie).group(1)
    form = f"csrfmiddlewaretoken={token}&username=hardening&password={superuser_password}&next=/admin/"
    connection.request("POST", "/admin/login/", body=form, headers={
        **VIA_HTTPS, "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": f"csrftoken={csrf_value}", "Referer": f"https://127.0.0.1:{server.port}/admin/login/",
    })
    logged_in = connection.getresponse()
    logged_in.read()
    cookies = {header.split("=", 1)[0]: header for header in logged_in.headers.get_all("Set-Cookie")}
    connection.close()

    assert logged_in.status == 302 and logged_in.getheader("Location") == "/admin/"
    for cookie in (csrf_cookie, cookies["sessionid"]):
        attributes = {attribute.strip().lower() for attribute in cookie.split(";")}
        assert {"secure", "httponly"} <= attributes


# --- Who may claim HTTPS --------------------------------------------------------------


@pytest.fixture(scope="module")
def behind_proxy(fault_project, project_python, tmp_path_factory):
    """The app trusting only a proxy at PROXY_ADDRESS, with HSTS raised as the README says, to a day."""
    env = production_env(project_python, FORWARDED_ALLOW_IPS=PROXY_ADDRESS, DJANGO_SECURE_HSTS_SECONDS="86400")
    with running_server(procfile_command(fault_project, "web"), fault_project, env, tmp_path_factory.mktemp("gunicorn") / "log") as server:
        yield server


def get_from(address, port, path, headers):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(address, 0))
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, {name.lower(): value for name, value in response.getheaders()}
    finally:
        connection.close()


def test_a_client_reaching_the_app_directly_cannot_claim_https(behind_proxy):
    status, headers = get_from("127.0.0.1", behind_proxy.port, "/", {**VIA_HTTPS, "Host": "localhost"})

    assert (status, headers["location"]) == (301, "https://localhost/")
    assert "strict-transport-security" not in headers


def test_the_trusted_proxy_can_and_hsts_max_age_follows_the_environment(behind_proxy):
    status, headers = get_from(PROXY_ADDRESS, behind_proxy.port, "/", VIA_HTTPS)

    assert status == 200
    assert headers["strict-transport-security"] == "max-age=86400"


def test_static_files_too_are_served_over_https_only_to_the_trusted_proxy(behind_proxy, fault_project):
    path = hashed_static_path(fault_project, "css/site.css")

    direct_status, direct_headers = get_from("127.0.0.1", behind_proxy.port, path, {**VIA_HTTPS, "Host": "localhost"})
    proxied_status, proxied_headers = get_from(PROXY_ADDRESS, behind_proxy.port, path, VIA_HTTPS)

    assert (direct_status, direct_headers["location"]) == (301, f"https://localhost{path}")
    assert proxied_status == 200
    assert proxied_headers["strict-transport-security"] == "max-age=86400"


@pytest.mark.parametrize(("platform", "value"), [("DYNO", "web.1"), ("RENDER", "true")], ids=["heroku", "render"])
def test_on_heroku_and_render_the_routers_https_header_is_believed_from_any_address(fault_project, project_python, tmp_path, platform, value):
    """There only the platform's router reaches the app, from addresses the app cannot know."""
    env = production_env(project_python, **{platform: value})
    with running_server(procfile_command(fault_project, "web"), fault_project, env, tmp_path / "gunicorn.log") as server:
        routed = get_from(PROXY_ADDRESS, server.port, "/", VIA_HTTPS)
    with running_server(procfile_command(fault_project, "web"), fault_project, production_env(project_python), tmp_path / "plain.log") as server:
        elsewhere = get_from(PROXY_ADDRESS, server.port, "/", VIA_HTTPS)

    assert routed[0] == 200 and "strict-transport-security" in routed[1]
    assert elsewhere[0] == 301  # the same request, with no platform detected


# --- .env is local development's only -------------------------------------------------


def test_a_dot_env_turning_debug_on_is_not_read_by_a_production_start_but_is_by_manage_py(fault_project, project_python, tmp_path):
    """A checkout copied onto a server with its .env (rsync, a VM) still starts in production mode."""
    project = tmp_path / fault_project.name
    shutil.copytree(fault_project, project)
    (project / ".env").write_text("DJANGO_DEBUG=true\n")
    production = production_env(project_python)
    del production["DJANGO_DEBUG"]  # unset, as on a platform: production is the default
    local = {key: value for key, value in production.items() if not key.startswith("DJANGO_")}

    with running_server(procfile_command(project, "web"), project, production, tmp_path / "gunicorn.log") as server:
        plain = http_get(server.port, "/admin/login/", {"Host": "localhost"})
        secure = http_get(server.port, "/", VIA_HTTPS)
    debug = run([str(project_python), "manage.py", "shell", "-c", "from django.conf import settings; print(settings.DEBUG)"], project, local)

    assert (plain[0], plain[1]["location"]) == (301, "https://localhost/admin/login/")
    assert secure[0] == 200 and secure[1]["strict-transport-security"] == FIRST_HSTS
    assert debug.stdout.strip().splitlines()[-1] == "True"  # local development: no variable, .env read
