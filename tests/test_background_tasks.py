"""Background tasks for real: a project baked with background_tasks=yes, its
web process under gunicorn and its worker processes started with the
Procfile's commands, against a PostgreSQL cluster with max_connections=20
(Heroku Essential-0's limit). Tasks from tests/support/task_views.py log each
run to a file, so every run of every task is seen, whichever process ran it."""

import secrets
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import yaml
from support.load import Load, request
from support.network import free_port, wait_for_http_200
from support.processes import PeakSampler, connections_to
from support.postgres import ConnectionWatch, PostgresCluster, postgres_bin_dir
from support.project import generated_suite, procfile_command, production_env, run, running_server, stop_server, uv_sync

pytestmark = pytest.mark.slow

HONCHO = str(Path(sys.executable).parent / "honcho")
TASKS_TABLE = "django_tasks_database_dbtaskresult"
# A task that takes this long is in hand when the worker is stopped.
LONG_TASK_SECONDS = 5
# How long a worker may take to pick a task up and run it (it looks every second).
PICKUP_TIMEOUT_SECONDS = 30


@pytest.fixture(scope="module")
def cluster():
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    cluster = PostgresCluster(bin_dir, max_connections=20)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture(scope="module")
def site(tasks_project, tmp_path_factory):
    """A copy of the tasks project with the test tasks and views, its static files collected."""
    python = uv_sync(tasks_project)
    project = tmp_path_factory.mktemp("tasks-project") / tasks_project.name
    shutil.copytree(tasks_project, project, ignore=shutil.ignore_patterns(".env", "__pycache__", ".venv"))
    package = project / tasks_project.name
    shutil.copy(Path(__file__).parent / "support" / "task_views.py", package / "task_views.py")
    with open(package / "urls.py", "a") as urls:
        urls.write("\nfrom . import task_views  # added by the template's tests\n\nurlpatterns += task_views.urlpatterns\n")
    run([str(python), "manage.py", "collectstatic", "--noinput"], project, production_env(python))
    return project, python


class App:
    """The site against a database of its own: its environment, its run log, and a look at its task table."""

    def __init__(self, project, python, database_url, admin_url, directory):
        self.project, self.python, self.database_url, self.directory = project, python, database_url, directory
        # The test looks as a superuser, on a connection the app's role does not count.
        self.admin_url = admin_url
        self.run_log = directory / "runs.log"
        self.run_log.touch()
        self.env = production_env(python, DATABASE_URL=database_url, TASK_RUN_LOG=str(self.run_log), PYTHONUNBUFFERED="1")

    def manage(self, *args, timeout=120):
        return run([str(self.python), "manage.py", *args], self.project, self.env, timeout=timeout)

    def shell(self, code):
        """Run `code` in `manage.py shell`, as an operator or a management command would; its output."""
        result = subprocess.run([str(self.python), "manage.py", "shell", "-c", code], cwd=self.project, env=self.env,
                                capture_output=True, text=True, timeout=120)
        return result.returncode, result.stdout + result.stderr

    def query(self, sql, params=()):
        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            cursor = connection.execute(sql, params)
            return cursor.fetchall() if cursor.description else cursor.rowcount

    def results(self):
        """{marker: (status, worker_ids, traceback)} of every stored task, by its first argument."""
        rows = self.query(f"SELECT args_kwargs, status, worker_ids, traceback FROM {TASKS_TABLE}")
        return {args["args"][0]: (status, worker_ids, traceback) for args, status, worker_ids, traceback in rows}

    def runs(self):
        """[(event, marker, pid, time)] of every task run, as the tasks logged them."""
        lines = self.run_log.read_text().splitlines()
        return [(event, marker, int(pid), float(at)) for event, marker, pid, at in (line.split() for line in lines)]

    def wait_until(self, condition, what, timeout=PICKUP_TIMEOUT_SECONDS):
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {timeout} s: {what}; runs: {self.runs()[-10:]}")
            time.sleep(0.05)

    @contextmanager
    def worker(self, name="worker"):
        """The Procfile's worker process, logging to a file of its own; stopped by PID at the end."""
        log_path = self.directory / f"{name}.log"
        with open(log_path, "w") as log:
            process = subprocess.Popen(shlex.split(procfile_command(self.project, "worker")), cwd=self.project,
                                       env=self.env, stdout=log, stderr=subprocess.STDOUT)
        process.log = lambda: log_path.read_text(errors="replace")
        try:
            self.wait_until(lambda: "Starting worker" in process.log() or process.poll() is not None, "the worker started")
            assert process.poll() is None, process.log()
            yield process
        finally:
            stop_server(process)

    @contextmanager
    def web(self):
        with running_server(procfile_command(self.project, "web"), self.project, self.env, self.directory / "web.log") as server:
            yield server


@pytest.fixture
def app(site, cluster, tmp_path):
    """The site, migrated, against a new database owned by a new plain role on the max_connections=20 cluster."""
    project, python = site
    role = f"app_{secrets.token_hex(4)}"
    app = App(project, python, cluster.app_database(role), cluster.url.rsplit("/", 1)[0] + f"/{role}", tmp_path)
    app.role = role
    app.manage("migrate", "--noinput")
    return app


def enqueue(app, markers, task="record", **options):
    arguments = ", ".join(f"{name}={value!r}" for name, value in options.items())
    code = (f"from {app.project.name}.task_views import {task}\n"
            f"for marker in {list(markers)!r}: {task}.enqueue(marker{', ' + arguments if arguments else ''})")
    returncode, output = app.shell(code)
    assert returncode == 0, output


def test_the_generated_suite_with_background_tasks_passes_on_postgresql(site, tasks_project, cluster):
    """Its tests/test_tasks.py: the example task, enqueue on commit and rollback, one task through db_worker."""
    _, python = site
    role = f"suite_{secrets.token_hex(4)}"
    database_url = cluster.app_database(role)
    with cluster.superuser() as admin:
        admin.execute(f"ALTER ROLE {role} CREATEDB")  # for pytest-django's test database

    # Fails this test on any failure or skip of the suite.
    generated_suite(python, tasks_project, production_env(python, DATABASE_URL=database_url))

    assert {"test_tasks.py", "test_worker.py"} <= {path.name for path in (tasks_project / "tests").iterdir()}


# --- From a request to a stored result ----------------------------------------


def test_a_request_enqueues_on_commit_and_a_worker_runs_the_task_and_stores_its_result(app):
    with app.web() as web, app.worker():
        response = request(web.port, "/tasks/enqueue?marker=from-a-request")
        assert response.status == 200
        app.wait_until(lambda: app.results().get("from-a-request", ("",))[0] == "SUCCESSFUL", "the task succeeded")

    [(return_value, finished, pickup)] = app.query(
        f"SELECT return_value, finished_at IS NOT NULL, extract(epoch FROM started_at - enqueued_at) FROM {TASKS_TABLE}")
    assert (return_value, finished) == ("from-a-request", True)
    print(f"\none task, an idle worker: picked up {float(pickup) * 1000:.0f} ms after it was enqueued")
    assert [(event, marker) for event, marker, _, _ in app.runs()] == [("start", "from-a-request"), ("end", "from-a-request")]


def test_a_request_that_rolls_back_enqueues_nothing(app):
    with app.web() as web, app.worker():
        assert request(web.port, "/tasks/enqueue-then-fail?marker=rolled-back").status == 500
        # Then one that commits: once it has run, the worker has had its chance at the first.
        assert request(web.port, "/tasks/enqueue?marker=committed").status == 200
        app.wait_until(lambda: "committed" in app.results() and app.results()["committed"][0] == "SUCCESSFUL", "the task ran")

    assert set(app.results()) == {"committed"}
    assert {marker for _, marker, _, _ in app.runs()} == {"committed"}


# --- Exactly once, and how fast ------------------------------------------------


def test_two_workers_run_each_of_500_tasks_exactly_once(app):
    markers = [f"task-{number}" for number in range(500)]
    with app.worker("worker-1") as first, app.worker("worker-2") as second:
        enqueue(app, markers)
        app.wait_until(lambda: sum(event == "end" for event, *_ in app.runs()) >= 500, "500 tasks ran", timeout=180)
        time.sleep(2)  # a second run of any task would show by now
        pids = {first.pid, second.pid}

    runs = app.runs()
    starts = [marker for event, marker, _, _ in runs if event == "start"]
    assert sorted(starts) == sorted(markers)  # each once, none twice, none lost
    assert {pid for _, _, pid, _ in runs} == pids  # both workers took part
    results = app.results()
    assert {status for status, _, _ in results.values()} == {"SUCCESSFUL"}
    assert {len(worker_ids) for _, worker_ids, _ in results.values()} == {1}

    (seconds,) = app.query(f"SELECT extract(epoch FROM max(finished_at) - min(started_at)) FROM {TASKS_TABLE}")[0]
    delays = sorted(delay for (delay,) in app.query(f"SELECT extract(epoch FROM started_at - enqueued_at) FROM {TASKS_TABLE}"))
    per_worker = {pid: sum(1 for event, _, ran_by, _ in runs if event == "start" and ran_by == pid) for pid in pids}
    print(f"\n500 tasks, 2 workers: {500 / float(seconds):.0f} tasks/s in {float(seconds):.1f} s "
          f"(per worker: {sorted(per_worker.values())}); pickup delay p50 {float(statistics.median(delays)) * 1000:.0f} ms, "
          f"p99 {float(delays[int(len(delays) * 0.99) - 1]) * 1000:.0f} ms")


# --- Stopping a worker in the middle of a task ----------------------------------


def running_worker(app, marker, workers):
    """The worker process that started the task `marker`."""
    app.wait_until(lambda: any(event == "start" and m == marker for event, m, _, _ in app.runs()), f"{marker} started")
    pid = next(pid for event, m, pid, _ in app.runs() if event == "start" and m == marker)
    return next(worker for worker in workers if worker.pid == pid)


def test_sigterm_lets_the_task_in_hand_finish_once_and_nothing_runs_it_concurrently(app):
    with app.worker("worker-1") as first, app.worker("worker-2") as second:
        enqueue(app, ["long"], seconds=LONG_TASK_SECONDS)
        stopped = running_worker(app, "long", [first, second])
        stopped.send_signal(signal.SIGTERM)
        exit_code = stopped.wait(timeout=LONG_TASK_SECONDS + 25)
        # The other worker is still serving: a task enqueued now runs.
        enqueue(app, ["after"])
        app.wait_until(lambda: app.results().get("after", ("",))[0] == "SUCCESSFUL", "the other worker ran the next task")
        time.sleep(2)

    assert exit_code == 0, stopped.log()
    runs = [(event, marker) for event, marker, _, _ in app.runs() if marker == "long"]
    assert runs == [("start", "long"), ("end", "long")]  # finished, once, never overlapping another run
    assert app.results()["long"][0] == "SUCCESSFUL"
    assert "shutting down gracefully" in stopped.log()


def test_a_second_sigterm_stops_the_task_in_hand_and_records_it_failed(app):
    """What the README says of a second SIGTERM (or Ctrl-C) while the first waits for the task."""
    with app.worker() as worker:
        enqueue(app, ["forced"], seconds=LONG_TASK_SECONDS)
        running_worker(app, "forced", [worker])
        worker.send_signal(signal.SIGTERM)
        app.wait_until(lambda: "shutting down gracefully" in worker.log(), "the worker took the first SIGTERM")
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=LONG_TASK_SECONDS + 25)
        time.sleep(LONG_TASK_SECONDS + 1)  # long enough for the task to have ended, had it gone on

    runs = [(event, marker) for event, marker, _, _ in app.runs() if marker == "forced"]
    assert runs == [("start", "forced")]
    status, _, traceback = app.results()["forced"]
    assert status == "FAILED"
    assert "SystemExit" in traceback
    assert "terminating current task" in worker.log()


def test_sigkill_leaves_the_task_in_hand_running_and_it_is_not_run_again(app):
    """What the README says: a killed worker's task stays RUNNING, and no worker runs it again by itself."""
    with app.worker("worker-1") as first, app.worker("worker-2") as second:
        enqueue(app, ["killed"], seconds=LONG_TASK_SECONDS)
        killed = running_worker(app, "killed", [first, second])
        killed.kill()
        killed.wait()
        enqueue(app, ["after"])
        app.wait_until(lambda: app.results().get("after", ("",))[0] == "SUCCESSFUL", "the other worker ran the next task")
        time.sleep(LONG_TASK_SECONDS + 2)  # long enough for the killed task to have finished, had it gone on

    runs = [(event, marker) for event, marker, _, _ in app.runs() if marker == "killed"]
    assert runs == [("start", "killed")]
    assert app.results()["killed"][0] == "RUNNING"
    # The README's way to find it, in a shell.
    returncode, output = app.shell(
        "from django_tasks_db.models import DBTaskResult\n"
        "print([r.args_kwargs['args'][0] for r in DBTaskResult.objects.running()])"
    )
    assert returncode == 0 and "['killed']" in output, output


# --- Bad input -----------------------------------------------------------------


def test_an_argument_that_is_not_json_is_refused_at_enqueue_and_nothing_is_stored(app):
    returncode, output = app.shell(
        f"import datetime\nfrom {app.project.name}.task_views import record\nrecord.enqueue(datetime.datetime.now())"
    )

    assert returncode != 0
    assert "TypeError: Unsupported type: <class 'datetime.datetime'>" in output
    assert app.query(f"SELECT count(*) FROM {TASKS_TABLE}") == [(0,)]


def test_a_task_that_is_not_a_module_level_function_is_refused_at_enqueue(app):
    returncode, output = app.shell(
        "try:\n    from django.tasks import task\nexcept ImportError:\n    from django_tasks import task\n"
        "def make():\n    @task\n    def inner(): pass\n    return inner\n"
        "make().enqueue()"
    )

    assert returncode != 0
    assert "InvalidTask: Task function must be defined at a module level." in output
    assert app.query(f"SELECT count(*) FROM {TASKS_TABLE}") == [(0,)]


def test_a_task_that_raises_is_recorded_failed_with_its_traceback_and_the_worker_goes_on(app):
    with app.worker() as worker:
        enqueue(app, ["broken"], task="fail")
        enqueue(app, ["next"])
        app.wait_until(lambda: app.results().get("next", ("",))[0] == "SUCCESSFUL", "the next task ran")
        assert worker.poll() is None

    status, _, traceback = app.results()["broken"]
    assert status == "FAILED"
    assert "ValueError: task broken failed on purpose" in traceback
    assert 'in fail\n    raise ValueError(f"task {marker} failed on purpose")' in traceback


def test_a_stored_task_whose_path_no_longer_exists_is_recorded_failed_and_the_worker_goes_on(app):
    """A task renamed or removed by a deploy while some of it waited in the queue."""
    returncode, output = app.shell(
        "from django_tasks_db.models import DBTaskResult\n"
        f"DBTaskResult.objects.create(task_path='{app.project.name}.task_views.gone', args_kwargs={{'args': ['gone'], 'kwargs': {{}}}},"
        " backend_name='default', queue_name='default')"
    )
    assert returncode == 0, output
    with app.worker() as worker:
        enqueue(app, ["next"])
        app.wait_until(lambda: app.results().get("next", ("",))[0] == "SUCCESSFUL", "the next task ran")
        assert worker.poll() is None

    status, _, traceback = app.results()["gone"]
    assert status == "FAILED"
    assert "gone" in traceback and "Error" in traceback


# --- Within the connection budget under load ------------------------------------


def test_web_and_worker_under_load_stay_within_max_connections_20(app, cluster):
    """64 clients on the web, half of them enqueuing tasks, the other half holding a
    database connection per request, and a worker running the tasks."""
    with app.web() as web, app.worker() as worker, ConnectionWatch(cluster, role=app.role) as watch:
        worker_peak = PeakSampler(lambda: connections_to(worker.pid, cluster.port))
        paths = tuple(f"/tasks/enqueue?marker=load-{number}" for number in range(32)) + ("/tasks/database-hold?seconds=0.05",) * 32
        with worker_peak, Load(web.port, paths=paths, threads=64, max_seconds=20, max_requests=3000) as load:
            load.wait_for(1500, timeout=60)
            enqueued = lambda: sum(1 for o in load.outcomes if o.path.startswith("/tasks/enqueue") and o.status == 200)  # noqa: E731
            load.stop()
            app.wait_until(lambda: app.query(f"SELECT count(*) FROM {TASKS_TABLE} WHERE status = 'SUCCESSFUL'")[0][0] >= enqueued(),
                           "every enqueued task ran", timeout=120)
        log = web.log()

    failed = [outcome for outcome in load.outcomes if outcome.status != 200]
    assert failed == []
    assert "too many clients" not in log.lower()
    # The start-up line's arithmetic: the web's 12 and the task worker's 1, within the 17 the role may have.
    assert "With the task worker 1, the release phase 1, a shell 1: 15 in all." in log
    assert worker_peak.peak == 1
    assert watch.peak <= 13
    print(f"\n{len(load.outcomes)} requests from 64 clients, {enqueued()} tasks run; peak connections {watch.peak} "
          f"(the task worker's {worker_peak.peak}) of the 17 max_connections=20 allows the role")


# --- Deploy targets start the worker with their own tools ------------------------


def test_honcho_runs_the_procfile_with_its_worker_and_a_task_enqueued_through_the_web_completes(app):
    port = free_port()
    env = {**app.env, "PORT": str(port)}
    with open(app.directory / "honcho.log", "w") as log:
        process = subprocess.Popen([HONCHO, "--no-colour", "start", "web", "worker"], cwd=app.project, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_http_200(port, "/healthz", timeout=60, process=process)
        assert request(port, "/tasks/enqueue?marker=honcho").status == 200
        app.wait_until(lambda: app.results().get("honcho", ("",))[0] == "SUCCESSFUL", "the task ran under honcho")
    finally:
        stop_server(process)
    output = (app.directory / "honcho.log").read_text()
    assert "worker.1" in output and "Starting worker" in output, output


def test_renders_worker_start_command_runs_tasks_and_its_cron_job_prunes_old_results(app):
    blueprint = yaml.safe_load((app.project / "render.yaml").read_text())
    services = {service["type"]: service for service in blueprint["services"]}
    worker, cron = services["worker"], services["cron"]
    # The same build as the web service; .venv/bin/python is what `uv sync` made there.
    assert worker["buildCommand"] == cron["buildCommand"] == "uv sync --locked --no-dev"
    (app.project / ".venv").symlink_to(app.python.parent.parent)
    try:
        log_path = app.directory / "render-worker.log"
        with open(log_path, "w") as log:
            process = subprocess.Popen(["bash", "-c", worker["startCommand"]], cwd=app.project, env=app.env,
                                       stdout=log, stderr=subprocess.STDOUT)
        try:
            enqueue(app, ["on-render"])
            app.wait_until(lambda: app.results().get("on-render", ("",))[0] == "SUCCESSFUL", "the task ran")
        finally:
            stop_server(process)
        app.query(f"UPDATE {TASKS_TABLE} SET finished_at = now() - interval '15 days'")
        enqueue(app, ["waiting"])
        result = subprocess.run(["bash", "-c", cron["startCommand"]], cwd=app.project, env=app.env, capture_output=True, text=True, timeout=120)
    finally:
        (app.project / ".venv").unlink()

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Deleted 1 task result(s)" in result.stdout
    assert set(app.results()) == {"waiting"}
