"""What the template maintains, so that the project around it can be yours.

Nothing in here is needed to write views, models, URLs or settings, and a
developer need not touch it; it is kept in one place so that an upgrade of
the template, or a look at how the service runs, has one place to go:

    apps.py         registers the checks below and the pool's health signal
    checks.py       start-up checks: production refuses unsafe settings
    database.py     the connection pool's health, and a 503 for a request that
                    waited too long for a connection
    environment.py  reads settings from environment variables; a malformed one
                    stops start-up with one line naming it
    health.py       /healthz and /readyz for the platform's health checks
    logs.py         JSON or text log lines, Django's and gunicorn's alike
    request_id.py   one id per request, from the router to the response and
                    every log line; the slow-request warning
{%- if cookiecutter.sentry %}
    sentry.py       errors to Sentry, once SENTRY_DSN is set
{%- endif %}
    sessions.py     sessions in Redis and the database, served from the
                    database while Redis is down
{%- if cookiecutter.background_tasks %}
    worker.py       the task worker's start command, on one database connection
{%- endif %}
    server/         what gunicorn.conf.py uses to run the project (its own
                    docstring lists the modules); the start command is
                    `python -m {{ cookiecutter.project_slug }}.plumbing.server`
"""
