"""The start-up line on database connections, against a stand-in for the PostgreSQL server's answers,
and what the master closes before it forks."""

from types import SimpleNamespace

import psycopg
import pytest
from django.db.utils import ConnectionHandler

from {{ cookiecutter.project_slug }}.plumbing.server import connection_budget as budget

POSTGRES = {
    "ENGINE": "django.db.backends.postgresql",
    "NAME": "shop",
    "USER": "web",
    "PASSWORD": "hunter2",
    "HOST": "db.internal",
    "PORT": 5433,
    "OPTIONS": {"connect_timeout": 5, "sslmode": "require", "pool": {"max_size": 3}, "isolation_level": 1},
}


class StandInServer:
    """psycopg.connect's stand-in: remembers how it was called and answers SERVER_LIMITS with `row`."""

    def __init__(self, row=None, error=None):
        self.row = row
        self.error = error
        self.connected_with = None
        self.query = None

    def connect(self, **kwargs):
        self.connected_with = kwargs
        if self.error:
            raise self.error
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def execute(self, query):
        self.query = query
        return SimpleNamespace(fetchone=lambda: self.row)


@pytest.fixture
def server(monkeypatch):
    def with_answer(row=None, error=None, database=POSTGRES):
        stand_in = StandInServer(row, error)
        monkeypatch.setattr(budget.psycopg, "connect", stand_in.connect)
        monkeypatch.setattr(budget, "settings", SimpleNamespace(DATABASES={"default": database}))
        return stand_in

    return with_answer


def size(workers, per_worker, limit):
    return SimpleNamespace(workers=workers, connections_per_worker=per_worker, database_max_connections=limit)


# max_connections, reserved (superuser + reserved_connections), superuser?, role limit, database limit, open now
ORDINARY_ROLE = (100, 3, False, -1, -1, 5)


def test_without_postgresql_there_is_no_line(server):
    server(ORDINARY_ROLE, database={**POSTGRES, "ENGINE": "django.db.backends.sqlite3"})

    assert budget.connection_budget(size(2, 3, 10)) is None


def test_the_line_gives_the_arithmetic_and_what_the_server_allows_this_role(server):
    server(ORDINARY_ROLE)

    assert budget.connection_budget(size(2, 3, 10)) == (
        "info",
        "Database connections: 2 workers x 3 = 6 for this instance (DATABASE_MAX_CONNECTIONS=10, 4 left unused); "
        "PostgreSQL allows this role 97 (max_connections 100, less 3 reserved), and it has 5 open now."
{%- if cookiecutter.background_tasks %}
        " With the task worker 1, the release phase 1, a shell 1: 9 in all."
{%- endif %},
    )


def test_a_budget_used_to_the_last_connection_leaves_none_unused(server):
    server(ORDINARY_ROLE)

    level, line = budget.connection_budget(size(2, 5, 10))

    assert line.startswith("Database connections: 2 workers x 5 = 10 for this instance (DATABASE_MAX_CONNECTIONS=10);")


def test_an_instance_that_fits_exactly_is_no_warning(server):
{%- if cookiecutter.background_tasks %}
    # Room for the instance's 12 and the task worker's, the release phase's and a shell's one each.
    server((100, 3, False, 15, -1, 0))
{%- else %}
    server((100, 3, False, 12, -1, 0))
{%- endif %}

    level, line = budget.connection_budget(size(3, 4, 12))

    assert level == "info"
    assert "does not fit" not in line


def test_an_instance_needing_more_than_the_server_allows_is_a_warning_saying_what_to_set(server):
    server((100, 3, False, 12, -1, 0))

    level, line = budget.connection_budget(size(13, 1, 13))

    assert level == "warning"
    assert line.endswith(
        "PostgreSQL allows this role 12 (the role's CONNECTION LIMIT 12), and it has 0 open now. "
        "This instance alone does not fit: set DATABASE_MAX_CONNECTIONS to at most 12."
    )


{%- if cookiecutter.background_tasks %}


def test_the_task_worker_the_release_phase_and_a_shell_count_beside_the_instance(server):
    server((20, 3, False, -1, -1, 0))

    level, line = budget.connection_budget(size(3, 4, 12))

    assert level == "info"
    assert line.endswith(
        "PostgreSQL allows this role 17 (max_connections 20, less 3 reserved), and it has 0 open now. "
        "With the task worker 1, the release phase 1, a shell 1: 15 in all."
    )


def test_an_instance_that_fits_alone_but_not_with_the_others_is_a_warning_saying_what_to_set(server):
    server((20, 3, False, -1, -1, 0))

    level, line = budget.connection_budget(size(3, 5, 15))

    assert level == "warning"
    assert line.endswith("18 in all. Together they do not fit: set DATABASE_MAX_CONNECTIONS to at most 14.")


def test_an_instance_that_fills_the_limit_alone_is_told_what_leaves_room_for_the_others(server):
    server((100, 3, False, 12, -1, 0))

    level, line = budget.connection_budget(size(3, 4, 12))

    assert level == "warning"
    assert line.endswith("15 in all. Together they do not fit: set DATABASE_MAX_CONNECTIONS to at most 9.")


def test_an_instance_that_fits_exactly_with_the_others_is_no_warning(server):
    server((20, 3, False, -1, -1, 0))

    level, line = budget.connection_budget(size(2, 7, 14))

    assert level == "info"
    assert line.endswith("17 in all.")
{%- endif %}


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (psycopg.OperationalError("connection timeout expired\nmore detail"), "connection timeout expired"),
        (psycopg.OperationalError(" "), "OperationalError"),
    ],
)
def test_a_server_that_does_not_answer_leaves_the_limit_unchecked_with_a_warning(server, error, said):
    server(error=error)

    assert budget.connection_budget(size(2, 3, 10)) == (
        "warning",
        "Database connections: 2 workers x 3 = 6 for this instance (DATABASE_MAX_CONNECTIONS=10, 4 left unused); "
        f"PostgreSQL did not answer ({said}), so its limit is unchecked.",
    )


def test_the_server_is_asked_with_the_projects_connection_settings_but_a_short_timeout(server):
    stand_in = server(ORDINARY_ROLE)

    budget.server_allows(POSTGRES)

    assert stand_in.connected_with == {
        "dbname": "shop",
        "user": "web",
        "password": "hunter2",
        "host": "db.internal",
        "port": 5433,
        "sslmode": "require",
        "connect_timeout": 3,
    }
    assert stand_in.query == budget.SERVER_LIMITS


def test_unset_connection_settings_are_left_to_libpq(server):
    stand_in = server(ORDINARY_ROLE)

    budget.server_allows({**POSTGRES, "NAME": "", "USER": "", "PASSWORD": "", "HOST": "", "PORT": "", "OPTIONS": {}})

    assert stand_in.connected_with == {
        "dbname": "postgres",
        "user": None,
        "password": None,
        "host": None,
        "port": None,
        "connect_timeout": 3,
    }


@pytest.mark.parametrize(
    ("row", "allowed", "how"),
    [
        (ORDINARY_ROLE, 97, "max_connections 100, less 3 reserved"),
        # A superuser may use the reserved connections too.
        ((100, 3, True, -1, -1, 5), 100, "max_connections 100"),
        ((100, 3, False, 20, -1, 5), 20, "the role's CONNECTION LIMIT 20"),
        ((100, 3, False, -1, 30, 5), 30, "the database's CONNECTION LIMIT 30"),
        ((100, 3, False, 20, 10, 5), 10, "the database's CONNECTION LIMIT 10"),
        ((100, 3, False, 10, 20, 5), 10, "the role's CONNECTION LIMIT 10"),
        ((100, 3, False, 0, -1, 5), 0, "the role's CONNECTION LIMIT 0"),
        # A limit no lower than what the server allows anyway changes nothing.
        ((100, 3, False, 97, 97, 5), 97, "max_connections 100, less 3 reserved"),
    ],
)
def test_the_lowest_of_the_servers_the_roles_and_the_databases_limits_applies(server, row, allowed, how):
    server(row)

    assert budget.server_allows(POSTGRES) == (allowed, how, 5)


# --- What the master holds when the workers fork -----------------------------------


@pytest.fixture
def master_databases(monkeypatch, tmp_path, django_db_blocker):
    """The databases as the master sees them: SQLite, and PostgreSQL through a pool (on a host it never reaches)."""
    handler = ConnectionHandler(
        {
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "db.sqlite3")},
            "replica": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": "shop",
                "HOST": "db.invalid",
                "OPTIONS": {"pool": {"min_size": 0, "max_size": 1}},
            },
        }
    )
    monkeypatch.setattr(budget, "connections", handler)
    with django_db_blocker.unblock():
        yield handler
    for connection in handler.all(initialized_only=True):
        connection.close()
        if getattr(connection, "pool", None) is not None:
            connection.close_pool()


def test_what_the_master_opened_while_loading_the_app_is_closed_pools_included(master_databases):
    # A query at import time, say: what it opened would otherwise reach every worker (a pool without its threads).
    default = master_databases["default"]
    default.cursor().execute("SELECT 1")
    pool = master_databases["replica"].pool
    pool.open()

    budget.close_connections_before_fork()

    assert default.connection is None
    assert pool.closed


def test_a_database_the_master_never_used_is_not_set_up_just_to_be_closed(master_databases):
    master_databases["default"].cursor().execute("SELECT 1")

    budget.close_connections_before_fork()

    assert [connection.alias for connection in master_databases.all(initialized_only=True)] == ["default"]
