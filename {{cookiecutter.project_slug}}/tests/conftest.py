from django.conf import settings


def pytest_configure():
    """Tests sign sessions and CSRF tokens with their own key, so they pass
    with or without a .env (a fresh clone has none), and need no
    `collectstatic` run (the hashed names are tested under gunicorn).
{%- if cookiecutter.background_tasks %}
    Tasks run as they are enqueued, in the test's own process and transaction
    (tests/test_tasks.py also runs one through the real worker).
{%- endif %}"""
    settings.SECRET_KEY = "test-only-" + "k" * 40
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
{%- if cookiecutter.background_tasks %}
{%- if cookiecutter.django_version == "5.2" %}
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
{%- else %}
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
{%- endif %}
{%- endif %}
