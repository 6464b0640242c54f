"""The generated project's settings, unchanged except for the URLconf."""

from ${project_slug}.settings import *  # noqa: F403

BENCH_PROJECT_URLCONF = ROOT_URLCONF  # noqa: F405
ROOT_URLCONF = "benchsite.urls"
