"""The peers' database settings: a connection per thread, kept for 10 minutes and
checked before use (dj-database-url's conn_max_age=600 with health checks, as
Heroku's getting-started app and most Django deployments have it), no pool."""

from benchsite.settings import *  # noqa: F403

DATABASES["default"].get("OPTIONS", {}).pop("pool", None)  # noqa: F405
DATABASES["default"]["CONN_MAX_AGE"] = 600  # noqa: F405
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # noqa: F405
