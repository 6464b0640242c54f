"""Sessions in the cache (Redis) and the database, that keep working on the database alone while the cache is down.

Django's own cached_db sessions read the cache first and fall back to the
database on a miss, but a cache that is down makes some of their steps
(logging in, logging out, storing a session read from the database) raise
an error, and the request fails. Here every step that talks to the cache
treats an error as a miss: while Redis is down, sessions are read from and
written to the database only, logged-in users stay logged in, and the
first failure (then the recovery) is logged once, not on every request.
"""

import logging

from django.contrib.sessions.backends import cached_db
from redis.exceptions import RedisError

CACHE_DOWN = (RedisError, OSError)

logger = logging.getLogger(__name__)


class SessionStore(cached_db.SessionStore):
    def __init__(self, session_key=None):
        super().__init__(session_key)
        self._cache = CacheOrMiss(self._cache)


class CacheOrMiss:
    """The session cache, with its failures turned into misses."""

    down = False  # shared by every session of this process

    def __init__(self, cache):
        self.cache = cache

    def get(self, key, default=None):
        return self._try(self.cache.get, key, default, failed=default)

    def set(self, key, value, timeout):
        self._try(self.cache.set, key, value, timeout)

    def delete(self, key):
        self._try(self.cache.delete, key)

    def __contains__(self, key):
        return self._try(self.cache.has_key, key, failed=False)

    async def aget(self, key, default=None):
        return await self._atry(self.cache.aget, key, default, failed=default)

    async def aset(self, key, value, timeout):
        await self._atry(self.cache.aset, key, value, timeout)

    async def adelete(self, key):
        await self._atry(self.cache.adelete, key)

    def _try(self, operation, *args, failed=None):
        try:
            result = operation(*args)
        except CACHE_DOWN as error:
            self._failed(error)
            return failed
        self._succeeded()
        return result

    async def _atry(self, operation, *args, failed=None):
        try:
            result = await operation(*args)
        except CACHE_DOWN as error:
            self._failed(error)
            return failed
        self._succeeded()
        return result

    def _failed(self, error):
        if not CacheOrMiss.down:
            CacheOrMiss.down = True
            logger.warning(
                "The session cache is unavailable (%s: %s); using the database alone until it is back",
                type(error).__name__,
                error,
            )

    def _succeeded(self):
        if CacheOrMiss.down:
            CacheOrMiss.down = False
            logger.info("The session cache is back")
