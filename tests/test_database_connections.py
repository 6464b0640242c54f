"""Database connections that fit: the baked project against a PostgreSQL
server with the connection limit of Heroku's smallest plan (20), one and two
instances under more concurrent clients than that, each request holding
its connection as a query does. The app connects as a plain role, so the
superuser's reserved slots stay free for the test to watch the server's
pg_stat_activity from.

Each test prints its load, failures and the peak of connections (`-s`)."""

import re
import shlex
import subprocess
import threading
import time

import pytest
from support.load import VIA_HTTPS, Load, at_once, request
from support.network import free_port, http_get
from support.postgres import ConnectionWatch, PostgresCluster, postgres_bin_dir
from support.processes import child_pids, connections_to
from support.project import procfile_command, production_env, run, running_server
from support.router import ROUTER_GIVES_UP_AFTER_SECONDS, missing_tools, router_in_front_of, wrk

pytestmark = [pytest.mark.slow, pytest.mark.faults]

# Heroku Postgres Essential-0, the plan app.json provisions.
SMALLEST_PLAN_CONNECTIONS = 20
SUPERUSER_RESERVED = 3
# What the generated sizing.py gives an instance that sets nothing.
DEFAULT_DATABASE_MAX_CONNECTIONS = 12
CLIENTS = 64
HOLD_SECONDS = 0.05
HOLDING_VIEW = f"/faults/database-hold?seconds={HOLD_SECONDS}"
LOAD_SECONDS = 8
# Sixteen times the clients the defaults were tuned for, through a router.
OVERLOAD_CLIENTS = 1024
OVERLOAD_SECONDS = 20


@pytest.fixture
def small_plan():
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    cluster = PostgresCluster(bin_dir, max_connections=SMALLEST_PLAN_CONNECTIONS)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def app_env(small_plan, fault_project, project_python):
    """Production settings on a database of the small plan's, migrated by the release command."""
    database_url = small_plan.app_database()

    def app_env(**overrides):
        return production_env(project_python, DATABASE_URL=database_url, **overrides)

    run(procfile_command(fault_project, "release"), fault_project, app_env())
    return app_env


def web(fault_project, env, log_path):
    return running_server(procfile_command(fault_project, "web"), fault_project, env, log_path)


def report(name, load, watch, extra=""):
    print(f"\n[{name}] {load.summary()}, {len(load.failures())} failed, peak {watch.peak} connections of the app's role{extra}")


def test_past_capacity_behind_a_router_1024_clients_queue_and_none_fails_or_waits_as_long_as_the_router(
    small_plan, app_env, fault_project, tmp_path
):
    """Far more clients than the database allows, through a router that keeps
    its connections to the app open and gives up after 30 s: every request
    waits its turn for a connection of the pool and is answered, well before
    the router would give up on it, and the database never sees more than
    the instance's budget."""
    if missing := missing_tools():
        pytest.skip(f"needs {' and '.join(missing)} (apt-get install nginx wrk)")
    with web(fault_project, app_env(), tmp_path / "gunicorn.log") as server, router_in_front_of(server.port) as router:
        with ConnectionWatch(small_plan) as watch:
            result = wrk(router, HOLDING_VIEW, OVERLOAD_CLIENTS, OVERLOAD_SECONDS)
        ceiling = DEFAULT_DATABASE_MAX_CONNECTIONS / HOLD_SECONDS

    print(f"\n[{OVERLOAD_CLIENTS} clients through a router] {result.requests} requests in {OVERLOAD_SECONDS} s, "
          f"{result.requests_per_second:.0f} req/s ({result.requests_per_second / ceiling:.2f} of the {ceiling:.0f} the pool allows), "
          f"p99 {result.p99_ms / 1000:.2f} s, slowest {result.slowest_ms / 1000:.2f} s, {result.failed} failed, "
          f"peak {watch.peak} connections of the app's role")
    assert result.failed == 0, result.output
    assert result.slowest_ms < ROUTER_GIVES_UP_AFTER_SECONDS * 1000
    assert watch.peak <= DEFAULT_DATABASE_MAX_CONNECTIONS


def test_one_instance_with_the_defaults_serves_64_clients_on_a_20_connection_plan_and_fails_none(small_plan, app_env, fault_project, tmp_path):
    with web(fault_project, app_env(), tmp_path / "gunicorn.log") as server:
        master = server.process.pid
        with ConnectionWatch(small_plan) as watch, Load(server.port, (HOLDING_VIEW,), threads=CLIENTS, max_seconds=LOAD_SECONDS) as load:
            time.sleep(LOAD_SECONDS / 2)
            master_connections_under_load = connections_to(master, small_plan.port)
            workers = child_pids(master)
            time.sleep(LOAD_SECONDS / 2)
        log = server.log()

    budget_line = re.search(r"Database connections: (\d+) workers x (\d+) = (\d+) for this instance.*", log)
    report("one instance", load, watch, f"; the master held {master_connections_under_load}; {budget_line.group(0)}")
    assert load.failures() == []
    assert len(load.outcomes) > 1000  # the load was a load: about 200 requests a second
    assert int(budget_line.group(3)) == int(budget_line.group(1)) * int(budget_line.group(2)) <= DEFAULT_DATABASE_MAX_CONNECTIONS
    assert int(budget_line.group(1)) == len(workers)
    assert f"PostgreSQL allows this role {SMALLEST_PLAN_CONNECTIONS - SUPERUSER_RESERVED} " in budget_line.group(0)
    assert "does not fit" not in log
    # Every connection the workers' pools may hold was in use, and never more.
    assert watch.peak == int(budget_line.group(3))
    assert master_connections_under_load == 0


def test_two_instances_of_8_connections_share_the_plan_and_fail_no_request(small_plan, app_env, fault_project, tmp_path):
    env = app_env(DATABASE_MAX_CONNECTIONS="8")
    with web(fault_project, env, tmp_path / "a.log") as a, web(fault_project, env, tmp_path / "b.log") as b:
        with ConnectionWatch(small_plan) as watch, Load([a.port, b.port], (HOLDING_VIEW,), threads=CLIENTS, max_seconds=LOAD_SECONDS) as load:
            time.sleep(LOAD_SECONDS)
        logs = a.log() + b.log()

    report("two instances", load, watch)
    assert load.failures() == []
    assert len(load.outcomes) > 1000
    assert logs.count("(DATABASE_MAX_CONNECTIONS=8") == 2
    assert 8 < watch.peak <= 16  # both instances used the database, neither past its 8


def test_when_every_connection_is_busy_a_request_waits_then_gets_503_while_others_are_served_at_once(small_plan, app_env, fault_project, tmp_path):
    pool_timeout = 2
    env = app_env(DATABASE_MAX_CONNECTIONS="1", DATABASE_POOL_TIMEOUT=str(pool_timeout))
    with web(fault_project, env, tmp_path / "gunicorn.log") as server:
        holder = {}
        holding = threading.Thread(target=lambda: holder.update(outcome=request(server.port, "/faults/database-hold?seconds=8")))
        holding.start()
        time.sleep(1)
        waited = request(server.port, HOLDING_VIEW)
        ready = timed_get(server.port, "/readyz")
        alive = timed_get(server.port, "/healthz")
        page = timed_get(server.port, "/")
        holding.join()
        log = server.log()

    print(f"\n[pool of 1] the second database request: {waited.status} after {waited.ended - waited.started:.2f} s; "
          f"/readyz {ready[0]} {ready[2]!r} in {ready[3]:.2f} s; /healthz {alive[0]} in {alive[3]:.2f} s; / {page[0]} in {page[3]:.2f} s")
    # Fewer connections than workers: one worker, and the log says so.
    assert "DATABASE_MAX_CONNECTIONS=1 is fewer than the" in log and "running 1 workers with 1 database connection each" in log
    assert waited.status == 503
    assert pool_timeout <= waited.ended - waited.started < pool_timeout + 1.5
    assert waited.headers["retry-after"].isdigit()
    assert holder["outcome"].status == 200
    # Busy is not down: the instance stays in rotation.
    assert ready[0] == 200 and ready[2].startswith(b"ok: busy")
    for status, _, _, seconds in (ready, alive, page):
        assert status == 200 and seconds < 1


def timed_get(port, path):
    started = time.monotonic()
    status, headers, body = http_get(port, path, VIA_HTTPS)
    return status, headers, body, time.monotonic() - started


def test_the_start_up_line_warns_when_one_instance_alone_would_not_fit(small_plan, app_env, fault_project, tmp_path):
    allowed = SMALLEST_PLAN_CONNECTIONS - SUPERUSER_RESERVED
    env = app_env(DATABASE_MAX_CONNECTIONS=str(allowed + 3), WEB_CONCURRENCY="2")
    with web(fault_project, env, tmp_path / "gunicorn.log") as server:
        log = server.log()

    line = next(line for line in log.splitlines() if "Database connections:" in line)
    print(f"\n[too many] {line}")
    assert " WARNING gunicorn.error " in line
    assert f"2 workers x {(allowed + 3) // 2} = {2 * ((allowed + 3) // 2)} for this instance" in line
    assert f"This instance alone does not fit: set DATABASE_MAX_CONNECTIONS to at most {allowed}." in line


def test_workers_asked_for_on_the_command_line_cannot_outgrow_the_connection_budget(app_env, fault_project):
    env = app_env(WEB_CONCURRENCY="2", GUNICORN_CMD_ARGS=f"--workers 5 --bind 127.0.0.1:{free_port()}")
    result = subprocess.run(shlex.split(procfile_command(fault_project, "web")), cwd=fault_project, env=env,
                            capture_output=True, text=True, timeout=60)

    assert result.returncode != 0
    assert (result.stdout + result.stderr).strip().splitlines()[-1] == (
        "gunicorn was told to run 5 workers (--workers or GUNICORN_CMD_ARGS), but the database pools are sized for 2: "
        "set WEB_CONCURRENCY=5 instead."
    )


def test_a_database_restart_costs_no_request_sent_once_it_is_back(postgres_cluster, fault_project, project_python, tmp_path):
    """The pool checks a connection before handing it out: those the restart
    broke are replaced, never given to a request."""
    env = production_env(project_python, DATABASE_URL=postgres_cluster.url, WEB_CONCURRENCY="1")
    view = "/faults/database-hold?seconds=0"
    with web(fault_project, env, tmp_path / "gunicorn.log") as server:
        warm = at_once(server.port, [view] * 4)  # the pool holds connections now
        postgres_cluster.stop()
        postgres_cluster.start()
        after = [request(server.port, view) for _ in range(20)]

    print(f"\n[restart] before: {[o.status for o in warm]}; the 20 requests after: {[o.status for o in after]}")
    assert [outcome.status for outcome in warm] == [200] * 4
    assert [outcome.status for outcome in after] == [200] * 20
