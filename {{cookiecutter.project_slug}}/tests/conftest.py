import pytest


@pytest.fixture(autouse=True)
def test_settings(settings):
    """Tests sign sessions and CSRF tokens whether or not a .env gives a key,
    and need no `collectstatic` run (the hashed names are tested under gunicorn)."""
    if not settings.SECRET_KEY:
        settings.SECRET_KEY = "test-only-" + "k" * 40
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
