"""Reject answers that would make a broken project, before any file is written.

Cookiecutter removes the half-made output directory when this exits non-zero.
"""

import keyword
import re
import sys
import zoneinfo

SUPPORTED_PYTHON_VERSIONS = ("3.11", "3.12", "3.13", "3.14")
# Each Django release offered, and the oldest Python it runs on.
DJANGO_VERSIONS = {"6.1": "3.12", "5.2": "3.10"}
# Modules the generated project imports, or that its tools put on sys.path:
# a package of the same name would shadow them.
IMPORTED_MODULES = {
    "django", "gunicorn", "whitenoise", "dj_database_url", "csp", "psycopg", "psycopg_pool", "redis", "dotenv", "pythonjsonlogger",
    "sentry_sdk", "django_tasks", "django_tasks_db", "dj_email_url", "aiosmtpd",
    "brotli", "pytest", "pytest_django", "manage", "test", "tests", "static", "templates", "accounts",
}

answers = {
    "project_name": {{ cookiecutter.project_name|tojson }},
    "project_slug": {{ cookiecutter.project_slug|tojson }},
    "email": {{ cookiecutter.email|tojson }},
    "domain_name": {{ cookiecutter.domain_name|tojson }},
    "python_version": {{ cookiecutter.python_version|tojson }},
    "django_version": {{ cookiecutter.django_version|tojson }},
    "time_zone": {{ cookiecutter.time_zone|tojson }},
}


def slug_problem(slug):
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", slug):
        return "must be a lower-case Python identifier: letters a-z, digits and underscores, not starting with a digit"
    if keyword.iskeyword(slug) or keyword.issoftkeyword(slug):
        return "is a Python keyword"
    if slug in IMPORTED_MODULES or slug in sys.stdlib_module_names:
        return "would shadow a module the project imports"
    return None


def version(text):
    return tuple(int(part) for part in text.split("."))


def problems(answers):
    found = []
    if not answers["project_name"].strip():
        found.append("project_name must not be empty.")
    slug = answers["project_slug"]
    reason = slug_problem(slug)
    if reason:
        found.append(f"project_slug {slug!r} {reason}; pass e.g. project_slug=my_service.")
    if not re.fullmatch(r"[^@\s\"'<>,;]+@[^@\s\"'<>,;]+\.[A-Za-z]{2,}", answers["email"]):
        found.append(f"email {answers['email']!r} is not an email address like you@example.com.")
    if not re.fullmatch(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", answers["domain_name"]):
        found.append(f"domain_name {answers['domain_name']!r} is not a lower-case domain name like example.com.")
    if answers["python_version"] not in SUPPORTED_PYTHON_VERSIONS:
        found.append(
            f"python_version {answers['python_version']!r} is not supported; choose one of {', '.join(SUPPORTED_PYTHON_VERSIONS)}."
        )
    django = answers["django_version"]
    if django not in DJANGO_VERSIONS:
        found.append(f"django_version {django!r} is not offered; choose 6.1 (the newest feature release) or 5.2 (the LTS).")
    elif answers["python_version"] in SUPPORTED_PYTHON_VERSIONS and version(answers["python_version"]) < version(DJANGO_VERSIONS[django]):
        found.append(
            f"Django {django} needs Python {DJANGO_VERSIONS[django]} or newer, not {answers['python_version']}; "
            "choose a newer python_version or django_version=5.2."
        )
    if answers["time_zone"] not in zoneinfo.available_timezones():
        found.append(f"time_zone {answers['time_zone']!r} is not an IANA time zone name like UTC or Europe/Paris.")
    return found


if __name__ == "__main__":
    found = problems(answers)
    if found:
        print("Cannot generate the project:", file=sys.stderr)
        for problem in found:
            print(f"  - {problem}", file=sys.stderr)
        sys.exit(1)
