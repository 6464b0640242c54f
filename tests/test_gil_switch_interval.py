"""gunicorn.conf.py lets a computing thread keep the GIL for 10 ms, not Python's 5:
what the conf sets in the master must hold in every worker that serves requests."""

import pytest
from support.network import http_get
from support.processes import wait_for_workers
from support.project import procfile_command, production_env, running_server

pytestmark = pytest.mark.slow

WORKERS = 2


def test_every_worker_lets_a_computing_thread_keep_the_gil_for_10_ms(fault_project, project_python, tmp_path):
    env = production_env(project_python, WEB_CONCURRENCY=str(WORKERS))
    with running_server(procfile_command(fault_project, "web"), fault_project, env, tmp_path / "gunicorn.log") as server:
        workers = wait_for_workers(server.process.pid, WORKERS)
        interval_by_worker = {}
        # New connections are shared out among the workers as they come; ask until each has answered.
        for _ in range(500):
            status, _, body = http_get(server.port, "/faults/gil-switch-interval", {"X-Forwarded-Proto": "https"})
            assert status == 200, body
            pid, interval = body.decode().split()
            interval_by_worker[int(pid)] = float(interval)
            if interval_by_worker.keys() == workers:
                break
    assert interval_by_worker == {pid: 0.01 for pid in workers}
