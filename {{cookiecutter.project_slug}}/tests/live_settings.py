"""The project's settings, with the URLs of live_urls.py: the live server of test_request_logs.py runs them."""

from {{ cookiecutter.project_slug }}.settings import *  # noqa: F403

ROOT_URLCONF = "tests.live_urls"
