"""The request watchdog on a clock of the test's own: when it stops a worker, how long it lets the
other requests finish, that it exits, and that it times the application, not the client (the WSGI
wrapper that tells it which is which). (The template's own tests watch it cut off a real hung
request, and leave a long stream alone, under gunicorn.)"""

import signal
import threading
from types import SimpleNamespace

import pytest

from {{ cookiecutter.project_slug }}.plumbing.server import watchdog as watchdog_module
from {{ cookiecutter.project_slug }}.plumbing.server.watchdog import RequestWatchdog
from {{ cookiecutter.project_slug }}.plumbing.server.wsgi_wrapper import wrapped

START = 1000.0
PID = 4242


class Exited(Exception):
    pass


class Worker:
    """What the watchdog sees of a gunicorn worker: its settings and its log."""

    def __init__(self, timeout=30, graceful_timeout=25):
        self.cfg = SimpleNamespace(timeout=timeout, graceful_timeout=graceful_timeout)
        self.critical = []
        self.log = SimpleNamespace(critical=lambda *args: self.critical.append(args))


class World:
    """The clock, the request threads, and the process, as the watchdog module sees them."""

    def __init__(self, monkeypatch):
        self.now = START
        self.thread = 1
        self.signals = []
        self.exit_code = None
        self.exited_at = None
        self.at = {}  # time -> what happens then, while the watchdog sleeps
        self.threads = []
        monkeypatch.setattr(watchdog_module, "of_this_worker", None)
        monkeypatch.setattr(watchdog_module, "time", SimpleNamespace(monotonic=lambda: self.now, sleep=self.sleep))
        monkeypatch.setattr(
            watchdog_module,
            "os",
            SimpleNamespace(getpid=lambda: PID, kill=self.kill, _exit=self.exit),
        )
        monkeypatch.setattr(
            watchdog_module,
            "threading",
            SimpleNamespace(Lock=threading.Lock, get_ident=lambda: self.thread, Thread=self.new_thread),
        )

    def sleep(self, seconds):
        assert seconds == watchdog_module.CHECK_INTERVAL_SECONDS
        self.now += seconds
        for when in sorted(self.at):
            if when <= self.now:
                self.at.pop(when)()

    def kill(self, pid, signum):
        self.signals.append((pid, signum, self.now))

    def exit(self, code):
        self.exit_code, self.exited_at = code, self.now
        raise Exited

    def new_thread(self, **kwargs):
        thread = SimpleNamespace(started=False, **kwargs)
        thread.start = lambda: setattr(thread, "started", True)
        self.threads.append(thread)
        return thread

    def request(self, watchdog, thread, method_and_path, at=None):
        self.thread = thread
        if at is not None:
            self.now = at
        method, path = method_and_path.split()
        watchdog.request_started(SimpleNamespace(method=method, path=path))


@pytest.fixture
def world(monkeypatch):
    return World(monkeypatch)


def test_a_request_running_past_the_timeout_stops_the_worker_gracefully_then_ends_it(world):
    worker = Worker(timeout=30)
    watchdog = RequestWatchdog(worker)
    world.request(watchdog, 1, "GET /stuck", at=START)

    with pytest.raises(Exited):
        watchdog.watch()

    # Overdue once it has run more than 30 s: at the first look after that.
    assert world.signals == [(PID, signal.SIGTERM, START + 30.5)]
    assert worker.critical == [
        ("REQUEST TIMEOUT: %s ran longer than %s s; replacing worker (pid:%s)", "GET /stuck", 30, PID)
    ]
    # Nothing else to wait for: it exits once kept-alive connections had their 2 s.
    assert (world.exit_code, world.exited_at) == (1, START + 30.5 + 2.0)


def test_the_requests_within_their_time_may_finish_before_the_worker_ends(world):
    watchdog = RequestWatchdog(Worker(timeout=30, graceful_timeout=25))
    world.request(watchdog, 1, "GET /stuck", at=START)
    world.request(watchdog, 2, "POST /slow", at=START + 20)
    world.now = START

    def slow_request_finishes():
        world.thread = 2
        watchdog.request_finished()

    world.at[START + 40] = slow_request_finishes

    with pytest.raises(Exited):
        watchdog.watch()

    assert world.exited_at == START + 40


def test_requests_within_their_time_are_waited_for_no_longer_than_the_graceful_timeout(world):
    watchdog = RequestWatchdog(Worker(timeout=30, graceful_timeout=25))
    world.request(watchdog, 1, "GET /stuck", at=START)
    world.request(watchdog, 2, "POST /slow", at=START + 29)
    world.now = START

    with pytest.raises(Exited):
        watchdog.watch()

    assert world.exited_at == START + 30.5 + 25


def test_a_request_is_overdue_only_past_the_timeout_and_within_it_up_to_it(world):
    watchdog = RequestWatchdog(Worker(timeout=30))
    world.request(watchdog, 1, "GET /a", at=START)
    world.request(watchdog, 2, "GET /b", at=START + 1)

    world.now = START + 30
    assert watchdog.overdue_requests() == []
    assert watchdog.requests_within_timeout() == ["GET /a", "GET /b"]
    world.now = START + 30.25
    assert watchdog.overdue_requests() == ["GET /a"]
    assert watchdog.requests_within_timeout() == ["GET /b"]


def test_a_finished_request_is_no_longer_watched_and_finishing_twice_is_harmless(world):
    watchdog = RequestWatchdog(Worker(timeout=30))
    world.request(watchdog, 1, "GET /a", at=START)
    world.request(watchdog, 2, "GET /b", at=START)

    world.thread = 1
    watchdog.request_finished()
    watchdog.request_finished()

    world.now = START + 60
    assert watchdog.overdue_requests() == ["GET /b"]


def test_the_watchdog_watches_from_a_daemon_thread_of_its_own(world):
    watchdog = RequestWatchdog(Worker(timeout=30))

    watchdog.start()

    [thread] = world.threads
    assert (thread.target, thread.name, thread.daemon, thread.started) == (
        watchdog.watch,
        "request-watchdog",
        True,
        True,
    )


def test_even_the_shortest_timeout_gunicorn_takes_is_watched(world):
    RequestWatchdog(Worker(timeout=1)).start()

    assert [thread.started for thread in world.threads] == [True]


def test_no_watchdog_runs_when_gunicorns_timeout_is_off(world):
    RequestWatchdog(Worker(timeout=0)).start()

    assert world.threads == []
    assert watchdog_module.of_this_worker is None


def test_a_started_watchdog_is_the_one_the_wsgi_wrapper_finds_for_this_worker(world):
    watchdog = RequestWatchdog(Worker(timeout=30))

    watchdog.start()

    assert watchdog_module.of_this_worker is watchdog


# --- The application's time, not the client's ----------------------------------------


def test_a_request_waiting_on_its_client_is_never_overdue_and_may_finish_on_a_graceful_stop(world):
    watchdog = RequestWatchdog(Worker(timeout=30))
    world.request(watchdog, 1, "GET /download", at=START)
    world.now = START + 29
    watchdog.waiting_on_client()

    world.now = START + 3600
    assert watchdog.overdue_requests() == []
    assert watchdog.requests_within_timeout() == ["GET /download"]


def test_a_request_gunicorn_never_announced_is_served_and_left_unwatched(world):
    watchdog = RequestWatchdog(Worker(timeout=30))
    world.request(watchdog, 1, "GET /watched", at=START)
    world.thread = 2

    watchdog.application_working()
    watchdog.waiting_on_client()

    world.now = START + 60
    assert watchdog.overdue_requests() == ["GET /watched"]
    assert watchdog.requests_within_timeout() == []


def test_the_application_at_work_again_gets_the_whole_timeout_from_then(world):
    watchdog = RequestWatchdog(Worker(timeout=30))
    world.request(watchdog, 1, "GET /stream", at=START)
    watchdog.waiting_on_client()
    world.request(watchdog, 2, "GET /other", at=START + 100)
    world.thread = 1
    watchdog.application_working()

    world.now = START + 130
    assert watchdog.overdue_requests() == []
    world.now = START + 130.25
    assert watchdog.overdue_requests() == ["GET /stream", "GET /other"]
    world.thread = 2
    watchdog.waiting_on_client()
    assert watchdog.overdue_requests() == ["GET /stream"]
    assert watchdog.requests_within_timeout() == ["GET /other"]


class FileWrapper:
    """What gunicorn puts in environ["wsgi.file_wrapper"]: a file it sends with sendfile."""


class Body:
    """A response body: its chunks, each made by the application in `making` seconds of the world's clock."""

    def __init__(self, world, watchdog, making, chunks=(b"a", b"b")):
        self.world, self.watchdog, self.making, self.chunks = world, watchdog, making, chunks
        self.overdue_while_making = []
        self.closed = []

    def __iter__(self):
        for chunk in self.chunks:
            self.world.now += self.making
            self.overdue_while_making.append(self.watchdog.overdue_requests())
            yield chunk

    def close(self):
        self.closed.append(self.watchdog.requests[1][0])


@pytest.fixture
def served(world):
    """Serve one request through the WSGI wrapper: the project's app, handed the request as gunicorn
    handed it, takes `computing` s, then returns `body`."""

    def served(watchdog, body, computing=0):
        environ = {"wsgi.file_wrapper": FileWrapper}
        overdue_while_computing = []

        def start_response(status, headers):
            pass

        def project_application(given_environ, given_start_response):
            assert (given_environ, given_start_response) == (environ, start_response)
            world.now += computing
            overdue_while_computing.append(watchdog.overdue_requests())
            return body

        world.request(watchdog, 1, "GET /page", at=START)
        response = wrapped(project_application)(environ, start_response)
        return response, overdue_while_computing

    return served


def test_the_application_is_timed_until_it_returns_its_response(world, served):
    watchdog = RequestWatchdog(Worker(timeout=30))
    watchdog.start()

    _, overdue_while_computing = served(watchdog, [b"page"], computing=30.25)

    assert overdue_while_computing == [["GET /page"]]
    world.now += 3600  # the client takes its time
    assert watchdog.overdue_requests() == []


def test_each_chunk_is_timed_while_the_application_makes_it_and_not_while_the_client_takes_it(world, served):
    watchdog = RequestWatchdog(Worker(timeout=30))
    watchdog.start()
    body = Body(world, watchdog, making=30)

    response, _ = served(watchdog, body)
    received = []
    for chunk in response:
        received.append(chunk)
        world.now += 100  # sending it to a slow client
        assert watchdog.overdue_requests() == []

    assert received == [b"a", b"b"]
    assert body.overdue_while_making == [[], []]


def test_a_chunk_the_application_takes_longer_than_the_timeout_to_make_is_overdue(world, served):
    watchdog = RequestWatchdog(Worker(timeout=30))
    watchdog.start()
    body = Body(world, watchdog, making=30.25)

    response, _ = served(watchdog, body)

    assert list(response) == [b"a", b"b"]
    assert body.overdue_while_making == [["GET /page"], ["GET /page"]]


def test_the_body_is_closed_through_the_wrapper_with_the_clock_running(world, served):
    watchdog = RequestWatchdog(Worker(timeout=30))
    watchdog.start()
    body = Body(world, watchdog, making=1)
    response, _ = served(watchdog, body)
    list(response)
    world.now += 100

    response.close()

    assert body.closed == [START + 102]


def test_a_body_without_close_is_served_and_closed_all_the_same(world, served):
    watchdog = RequestWatchdog(Worker(timeout=30))
    watchdog.start()

    response, _ = served(watchdog, iter([b"a", b"b"]))
    received = list(response)
    response.close()

    assert received == [b"a", b"b"]


def test_a_file_gunicorn_sends_itself_is_handed_back_untouched_and_not_timed(world, served):
    watchdog = RequestWatchdog(Worker(timeout=30))
    watchdog.start()
    file = FileWrapper()

    response, _ = served(watchdog, file)

    assert response is file
    world.now += 3600
    assert watchdog.overdue_requests() == []


def test_with_no_watchdog_running_the_body_is_handed_back_untouched(world, served):
    watchdog = RequestWatchdog(Worker(timeout=0))
    watchdog.start()
    body = [b"page"]

    response, _ = served(watchdog, body)

    assert response is body
