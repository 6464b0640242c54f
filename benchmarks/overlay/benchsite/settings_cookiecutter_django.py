"""cookiecutter-django's production database settings: CONN_MAX_AGE=60 (its
CONN_MAX_AGE default), a connection per thread, no pool."""

from benchsite.settings_persistent import *  # noqa: F403

DATABASES["default"]["CONN_MAX_AGE"] = 60  # noqa: F405
DATABASES["default"]["CONN_HEALTH_CHECKS"] = False  # noqa: F405
