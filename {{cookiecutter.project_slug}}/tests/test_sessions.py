"""Sessions kept in Redis and the database (plumbing/sessions.py, the engine when REDIS_URL is set),
while Redis is down and once it is back."""

import asyncio

import pytest
from django.contrib.sessions.backends.cached_db import KEY_PREFIX
from django.core.cache import caches
from redis.exceptions import ConnectionError as RedisConnectionError

from {{ cookiecutter.project_slug }}.plumbing import sessions
from {{ cookiecutter.project_slug }}.plumbing.sessions import CacheOrMiss

UNAVAILABLE = "The session cache is unavailable ({}); using the database alone until it is back"
BACK = "The session cache is back"


@pytest.fixture(autouse=True)
def quick_password_hashing(settings):
    """Logging in checks a password; these tests need not spend a second on it."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def redis_down(settings, tmp_path, monkeypatch):
    """Sessions kept in Redis as settings.py keeps them, at an address where no Redis answers."""
    settings.SESSION_ENGINE = sessions.__name__
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"unix://{tmp_path}/redis.sock",
        }
    }
    monkeypatch.setattr(CacheOrMiss, "down", False)  # as in a process that has just started
    return f"Error 2 connecting to {tmp_path}/redis.sock. No such file or directory."


def redis_is_back(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def session_log(caplog):
    return [(record.levelname, record.getMessage()) for record in caplog.records if record.name == sessions.__name__]


@pytest.mark.django_db
def test_while_redis_is_down_a_user_logs_in_stays_logged_in_and_logs_out_and_it_is_logged_once(
    client, admin_user, redis_down, caplog
):
    logged_in = client.post("/admin/login/?next=/admin/", {"username": "admin", "password": "password"}, secure=True)
    page = client.get("/admin/", secure=True)
    logged_out = client.post("/admin/logout/", secure=True)
    after = client.get("/admin/", secure=True)

    assert (logged_in.status_code, logged_in["Location"]) == (302, "/admin/")
    assert page.status_code == 200
    assert page.context["user"] == admin_user
    assert logged_out.status_code == 200
    assert after.status_code == 302
    assert after["Location"].startswith("/admin/login/")
    assert session_log(caplog) == [("WARNING", UNAVAILABLE.format(f"ConnectionError: {redis_down}"))]


@pytest.mark.django_db
def test_once_redis_is_back_sessions_are_kept_in_it_again_and_that_is_logged_once(
    client, admin_user, redis_down, settings, caplog
):
    client.force_login(admin_user)
    redis_is_back(settings)

    pages = [client.get("/admin/", secure=True) for _ in range(2)]

    assert [page.status_code for page in pages] == [200, 200]
    session = caches["default"].get(KEY_PREFIX + client.cookies["sessionid"].value)
    assert session["_auth_user_id"] == str(admin_user.pk)
    assert session_log(caplog) == [
        ("WARNING", UNAVAILABLE.format(f"ConnectionError: {redis_down}")),
        ("INFO", BACK),
    ]


class Redis:
    """A stand-in for the session cache: answers and notes each call, or, while down, fails as redis-py does."""

    def __init__(self):
        self.down = False
        self.calls = []
        self.data = {}

    def _call(self, *call):
        if self.down:
            raise RedisConnectionError("Error 111 connecting to cache:6379. Connection refused.")
        self.calls.append(call)

    def get(self, key, default=None):
        self._call("get", key, default)
        return self.data.get(key, default)

    def set(self, key, value, timeout):
        self._call("set", key, value, timeout)
        self.data[key] = value

    def delete(self, key):
        self._call("delete", key)
        self.data.pop(key, None)

    def has_key(self, key):
        self._call("has_key", key)
        return key in self.data

    async def aget(self, key, default=None):
        return self.get(key, default)

    async def aset(self, key, value, timeout):
        self.set(key, value, timeout)

    async def adelete(self, key):
        self.delete(key)


@pytest.fixture
def redis(monkeypatch):
    monkeypatch.setattr(CacheOrMiss, "down", False)
    return Redis()


def test_while_redis_answers_the_session_cache_passes_every_call_and_answer_through(redis):
    cache = CacheOrMiss(redis)

    cache.set("session", {"user": 1}, 60)
    stored = (cache.get("session"), "session" in cache)
    missing = (cache.get("other", "default"), "other" in cache)
    cache.delete("session")

    assert stored == ({"user": 1}, True)
    assert missing == ("default", False)
    assert redis.calls == [
        ("set", "session", {"user": 1}, 60),
        ("get", "session", None),
        ("has_key", "session"),
        ("get", "other", "default"),
        ("has_key", "other"),
        ("delete", "session"),
    ]


def test_while_redis_answers_the_async_session_cache_passes_every_call_and_answer_through(redis):
    cache = CacheOrMiss(redis)

    async def use():
        await cache.aset("session", {"user": 1}, 60)
        answers = [await cache.aget("session"), await cache.aget("other", "default")]
        await cache.adelete("session")
        return answers

    assert asyncio.run(use()) == [{"user": 1}, "default"]
    assert redis.calls == [
        ("set", "session", {"user": 1}, 60),
        ("get", "session", None),
        ("get", "other", "default"),
        ("delete", "session"),
    ]


def test_while_redis_is_down_every_session_cache_call_is_a_miss_and_it_is_logged_once(redis, caplog):
    redis.down = True
    cache = CacheOrMiss(redis)

    async def use():
        await cache.aset("session", {"user": 1}, 60)
        answer = await cache.aget("session", "default")
        await cache.adelete("session")
        return answer

    answers = [asyncio.run(use())]  # first, as the failure that is logged
    cache.set("session", {"user": 1}, 60)
    answers += [cache.get("session", "default"), "session" in cache]
    cache.delete("session")

    assert answers == ["default", "default", False]
    error = "ConnectionError: Error 111 connecting to cache:6379. Connection refused."
    assert session_log(caplog) == [("WARNING", UNAVAILABLE.format(error))]


def test_once_redis_answers_again_the_async_session_cache_logs_it_once(redis, caplog):
    redis.down = True
    cache = CacheOrMiss(redis)

    async def use():
        await cache.aget("session")
        redis.down = False
        await cache.aset("session", {"user": 1}, 60)
        await cache.aget("session")

    asyncio.run(use())

    error = "ConnectionError: Error 111 connecting to cache:6379. Connection refused."
    assert session_log(caplog) == [("WARNING", UNAVAILABLE.format(error)), ("INFO", BACK)]
