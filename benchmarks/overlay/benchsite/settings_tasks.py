"""The project's settings for benchmarks/tasks.py: the task views' URLconf, and mail to a log file."""

from .settings import *  # noqa: F403

ROOT_URLCONF = "benchsite.task_views"
# The project has no mail server without EMAIL_URL in production; this backend stands in for one.
MAILERS = {"default": {"BACKEND": "benchsite.mail.SubjectLog"}}
