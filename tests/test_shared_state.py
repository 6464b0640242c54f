"""Many identical instances sharing one PostgreSQL and one Redis: a user
logged in through one instance is logged in on the other, a value cached
through one is read through the other, and either instance can stop
without the session going with it. While Redis is down, sessions fall back
to the database and pages that need no cache keep working; a view that
uses the cache itself fails, and says why. Heroku's Key-Value Store
(rediss:// with a self-signed certificate) works on a dyno."""

import http.client
import re
import socket
import subprocess
import time
import urllib.parse

import pytest
from support.load import VIA_HTTPS
from support.network import http_get
from support.project import procfile_command, production_env, run, running_server, stop_server

pytestmark = pytest.mark.slow

ADMIN_PASSWORD = "a-long-admin-password-for-tests"


@pytest.fixture
def shared_env(postgres_cluster, fault_project, project_python):
    """Production settings every instance shares: one database (migrated,
    with an admin user) and one secret key; REDIS_URL is added per test."""
    env = production_env(project_python, DATABASE_URL=postgres_cluster.app_database())
    run(procfile_command(fault_project, "release"), fault_project, env)
    run([str(project_python), "manage.py", "createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.com"],
        fault_project, {**env, "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD})
    return env


def instance(fault_project, env, log_path):
    return running_server(procfile_command(fault_project, "web"), fault_project, env, log_path)


def exchange(port, method, path, headers=None, body=None):
    """(status, [(header, value), ...] with every Set-Cookie, body) of one request, over HTTPS as the router says."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body, headers={**VIA_HTTPS, **(headers or {})})
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


def cookies(headers):
    return dict(re.match(r"([^=]+)=([^;]*)", value).groups() for name, value in headers if name.lower() == "set-cookie")


def log_in(port, username="admin", password=ADMIN_PASSWORD):
    """The session cookie the admin's login form hands out, as a browser gets it."""
    _, headers, page = exchange(port, "GET", "/admin/login/")
    csrf_cookie = cookies(headers)["csrftoken"]
    csrf_token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()
    form = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": csrf_token, "next": "/admin/"})
    status, headers, _ = exchange(port, "POST", "/admin/login/", {
        "Cookie": f"csrftoken={csrf_cookie}", "Referer": f"https://127.0.0.1:{port}/admin/login/",
        "Content-Type": "application/x-www-form-urlencoded",
    }, form)
    assert status == 302, f"the login form answered {status}"
    return cookies(headers)["sessionid"]


def admin_index(port, session):
    """The admin's index page status with that session: 200 when logged in (a redirect to the login form otherwise)."""
    started = time.monotonic()
    status, _, _ = exchange(port, "GET", "/admin/", {"Cookie": f"sessionid={session}"})
    return status, time.monotonic() - started


def cache_through(port, query):
    started = time.monotonic()
    status, _, body = http_get(port, f"/faults/cache?{query}", VIA_HTTPS)
    return status, body, time.monotonic() - started


def redis_keys(redis):
    result = subprocess.run(["redis-cli", "-p", str(redis.port), "-a", redis.password, "--no-auth-warning", "--raw", "keys", "*"],
                            capture_output=True, text=True, timeout=10, check=True)
    return result.stdout.split()


def test_two_instances_share_sessions_and_the_cache_and_a_session_outlives_the_instance_that_made_it(shared_env, redis_server, fault_project, tmp_path):
    env = {**shared_env, "REDIS_URL": redis_server.url}
    with instance(fault_project, env, tmp_path / "a.log") as a, instance(fault_project, env, tmp_path / "b.log") as b:
        session = log_in(a.port)
        on_b = admin_index(b.port, session)
        stored = cache_through(a.port, "set=greeting&value=hello-from-a")
        read = cache_through(b.port, "get=greeting")
        keys = redis_keys(redis_server)
        a_exit_code = stop_server(a.process)
        after_a_stopped = admin_index(b.port, session)

    print(f"\n[two instances, one Redis] logged in through A; /admin/ through B: {on_b[0]}; cached through A, read through B: "
          f"{read[1]!r}; A stopped with exit code {a_exit_code}; /admin/ through B after: {after_a_stopped[0]}; Redis keys: {keys}")
    assert on_b[0] == 200
    assert stored[0] == 200 and read[:2] == (200, b"hello-from-a")
    assert any("sessions.cached_db" in key for key in keys), "the session is not in Redis"
    assert a_exit_code == 0
    assert after_a_stopped[0] == 200


def test_while_redis_is_down_sessions_fall_back_to_the_database_and_pages_without_the_cache_keep_working(shared_env, redis_server, fault_project, tmp_path):
    env = {**shared_env, "REDIS_URL": redis_server.url, "WEB_CONCURRENCY": "1"}
    with instance(fault_project, env, tmp_path / "gunicorn.log") as server:
        session = log_in(server.port)
        redis_server.stop()
        while_down = {
            "logged in": admin_index(server.port, session),
            "log in anew": (302 if log_in(server.port) else None, 0),
            "landing page": timed(server.port, "/"),
            "/healthz": timed(server.port, "/healthz"),
            "/readyz": timed(server.port, "/readyz"),
            "a view using the cache": cache_through(server.port, "get=greeting")[::2],
        }
        for _ in range(5):  # more requests, which must not each log the outage again
            admin_index(server.port, session)
        redis_server.start()
        back = cache_through(server.port, "set=greeting&value=back")
        after = admin_index(server.port, session)
        log = server.log()

    print(f"\n[Redis down] {while_down}; Redis back: cache {back[0]}, /admin/ {after[0]}")
    assert while_down["logged in"][0] == 200
    assert while_down["log in anew"][0] == 302
    for page in ("landing page", "/healthz", "/readyz"):
        assert while_down[page][0] == 200
    assert while_down["a view using the cache"][0] == 500
    # Each cache call gives up within its one-second socket timeouts, not the system's minutes.
    assert max(seconds for _, seconds in while_down.values()) < 3
    assert log.count("The session cache is unavailable") == 1
    assert log.count("The session cache is back") == 1
    assert back[0] == 200 and after[0] == 200
    # The view's own cache call raised redis-py's error, which a view can catch where a miss will do.
    assert "redis.exceptions.ConnectionError" in log


def test_a_redis_that_never_answers_costs_a_cache_call_a_second_and_pages_without_the_cache_nothing(shared_env, fault_project, tmp_path):
    """A Redis that accepts connections and then says nothing (a hung server, a
    dropped route) is the slow case: only the one-second timeouts end the wait."""
    # Listening, never accepting: the kernel completes each connection and queues it, and nothing ever answers.
    with socket.create_server(("127.0.0.1", 0)) as silent_redis:
        env = {**shared_env, "REDIS_URL": f"redis://127.0.0.1:{silent_redis.getsockname()[1]}/0", "WEB_CONCURRENCY": "1"}
        with instance(fault_project, env, tmp_path / "gunicorn.log") as server:
            cache_call = cache_through(server.port, "get=greeting")
            landing_page = timed(server.port, "/")

    print(f"\n[Redis silent] a view using the cache: {cache_call[0]} after {cache_call[2]:.2f} s; landing page: {landing_page}")
    assert cache_call[0] == 500
    assert 1 <= cache_call[2] < 2
    assert landing_page[0] == 200 and landing_page[1] < 1


def timed(port, path):
    started = time.monotonic()
    status = http_get(port, path, VIA_HTTPS)[0]
    return status, time.monotonic() - started


@pytest.mark.parametrize(("on_heroku", "works"), [(True, True), (False, False)], ids=["on-a-dyno", "elsewhere"])
def test_a_rediss_url_with_a_self_signed_certificate_works_on_heroku_and_is_refused_elsewhere(shared_env, redis_tls_server, fault_project, tmp_path, on_heroku, works):
    env = {**shared_env, "REDIS_URL": redis_tls_server.url}
    if on_heroku:
        env["DYNO"] = "web.1"
    with instance(fault_project, env, tmp_path / "gunicorn.log") as server:
        stored = cache_through(server.port, "set=greeting&value=over-tls")
        read = cache_through(server.port, "get=greeting")
        log = server.log()

    print(f"\n[rediss://, self-signed, {'DYNO set' if on_heroku else 'no DYNO'}] store: {stored[0]}, read: {read[:2]}")
    if works:
        assert stored[0] == 200 and read[:2] == (200, b"over-tls")
    else:
        assert stored[0] == 500
        assert "certificate verify failed" in log
