"""At start-up, the arithmetic of this instance's database connections, in one log line.

    workers x connections per worker = this instance's connections,
{%- if cookiecutter.background_tasks %}
    plus the other processes that share the database,
{%- endif %}
    against what the PostgreSQL server allows this role

gunicorn.conf.py logs it from the master once the application is loaded,
before the workers start. The master asks the server with a connection of
its own, opened and closed here, so that no connection of the master's
reaches the workers: each worker opens its own pool after it starts.
"""

import psycopg
from django.conf import settings
from django.db import connections

# The master waits this long for the database; start-up goes on without the line's second half.
CONNECT_TIMEOUT_SECONDS = 3
{%- if cookiecutter.background_tasks %}

# What else holds connections to the database while this instance serves: the
# task worker runs one task at a time on one connection, and a deploy's
# migrate and an operator's shell hold one each.
ALONGSIDE = {"the task worker": 1, "the release phase": 1, "a shell": 1}
{%- endif %}

# Keys of DATABASES OPTIONS that are Django's, not libpq's.
DJANGO_ONLY_OPTIONS = {"pool", "isolation_level", "assume_role", "server_side_binding"}

SERVER_LIMITS = """
SELECT current_setting('max_connections')::int,
       current_setting('superuser_reserved_connections')::int
         + coalesce(current_setting('reserved_connections', true), '0')::int,
       role.rolsuper,
       role.rolconnlimit,
       db.datconnlimit,
       (SELECT count(*) - 1 FROM pg_stat_activity WHERE usename = current_user)
FROM pg_roles AS role, pg_database AS db
WHERE role.rolname = current_user AND db.datname = current_database()
"""


def connection_budget(size):
    """(level, line): "info", or "warning" when this instance alone would not fit; None without PostgreSQL."""
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.postgresql":
        return None
    used = size.workers * size.connections_per_worker
    ours = (
        f"Database connections: {size.workers} workers x {size.connections_per_worker} = {used} for this instance "
        f"(DATABASE_MAX_CONNECTIONS={size.database_max_connections}"
        + (f", {size.database_max_connections - used} left unused)" if used < size.database_max_connections else ")")
    )
    try:
        allowed, how, open_now = server_allows(database)
    except psycopg.Error as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return "warning", f"{ours}; PostgreSQL did not answer ({first_line}), so its limit is unchecked."
    line = f"{ours}; PostgreSQL allows this role {allowed} ({how}), and it has {open_now} open now."
    if used > allowed:
        return "warning", f"{line} This instance alone does not fit: set DATABASE_MAX_CONNECTIONS to at most {allowed}."
{%- if cookiecutter.background_tasks %}
    others = sum(ALONGSIDE.values())
    line += f" With {', '.join(f'{name} {count}' for name, count in ALONGSIDE.items())}: {used + others} in all."
    if used + others > allowed:
        fits = allowed - others
        return "warning", f"{line} Together they do not fit: set DATABASE_MAX_CONNECTIONS to at most {fits}."
{%- endif %}
    return "info", line


def server_allows(database):
    """(connections this role may open, how that was worked out, connections it has open now, this one aside)."""
    options = {key: value for key, value in database["OPTIONS"].items() if key not in DJANGO_ONLY_OPTIONS}
    options["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
    with psycopg.connect(
        dbname=database["NAME"] or "postgres",
        user=database["USER"] or None,
        password=database["PASSWORD"] or None,
        host=database["HOST"] or None,
        port=database["PORT"] or None,
        **options,
    ) as probe:
        max_connections, reserved, superuser, role_limit, database_limit, open_now = probe.execute(
            SERVER_LIMITS
        ).fetchone()
    allowed = max_connections if superuser else max_connections - reserved
    how = f"max_connections {max_connections}" + ("" if superuser else f", less {reserved} reserved")
    for limit, name in (
        (role_limit, "the role's CONNECTION LIMIT"),
        (database_limit, "the database's CONNECTION LIMIT"),
    ):
        if 0 <= limit < allowed:
            allowed, how = limit, f"{name} {limit}"
    return allowed, how, open_now


def close_connections_before_fork():
    """Whatever the master opened while loading the app (a query at import time, say) is closed, pools included."""
    for connection in connections.all(initialized_only=True):
        connection.close()
        pool = getattr(connection, "pool", None)
        if pool is not None and not pool.closed:
            connection.close_pool()
