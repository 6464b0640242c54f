"""How the generated server takes connections: a worker accepts one only
while it has a thread free for it, and closes it after the answer. A
connection waiting for a thread waits in the listening socket's queue,
shared by all workers, so the first worker with a free thread serves it,
and every client takes its turn in that queue."""

import time

import pytest
from support.load import VIA_HTTPS, at_once
from support.network import http_get
from support.project import procfile_command, production_env, running_server

pytestmark = pytest.mark.slow

SLOW_SECONDS = 1


@pytest.fixture
def start(fault_project, project_python, tmp_path):
    def start(**env):
        environment = production_env(project_python, **env)
        return running_server(procfile_command(fault_project, "web"), fault_project, environment, tmp_path / "gunicorn.log")

    return start



def test_requests_arriving_together_are_shared_out_among_the_workers_threads(start):
    """Two workers of two threads: four slow requests sent together all run at once,
    a fifth waits for the first thread to come free, on whichever worker."""
    with start(WEB_CONCURRENCY="2", GUNICORN_THREADS="2") as server:
        started = time.monotonic()
        outcomes = at_once(server.port, [f"/faults/slow?seconds={SLOW_SECONDS}"] * 5)

    took = sorted(outcome.ended - started for outcome in outcomes)
    print(f"\n[shared out] 5 requests of {SLOW_SECONDS} s on 2 workers x 2 threads answered after {[round(t, 2) for t in took]} s")
    assert [outcome.status for outcome in outcomes] == [200] * 5
    assert took[3] < SLOW_SECONDS * 1.6  # four at once, none queued behind a busy worker's threads
    assert SLOW_SECONDS * 1.9 < took[4] < SLOW_SECONDS * 2.6


def test_every_answer_closes_its_connection(start):
    with start() as server:
        status, headers, _ = http_get(server.port, "/", {**VIA_HTTPS, "Connection": "keep-alive"})

    assert status == 200
    assert headers["connection"] == "close"
