from django.conf import settings


def pytest_configure():
    """Tests sign sessions and CSRF tokens with their own key, so they pass
    with or without a .env (a fresh clone has none), and need no
    `collectstatic` run (the hashed names are tested under gunicorn)."""
    settings.SECRET_KEY = "test-only-" + "k" * 40
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
