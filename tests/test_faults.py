"""The generated project keeps serving through what production does to it:
deploys (SIGHUP, SIGTERM), crashed and hung workers, worker recycling, a
database outage and slow clients. Each test runs the Procfile's web command
(real gunicorn, gunicorn.conf.py as shipped) on loopback under concurrent
load from threads here, and counts the requests that failed.

Select them with `-m faults`; each test prints its load and failure count
(`-s` shows them)."""

import http.client
import os
import re
import signal
import socket
import threading
import time

import pytest
from support.load import VIA_HTTPS, Load, request
from support.processes import holds_listening_socket, pid_serving, wait_for_workers
from support.project import procfile_command, production_env, run, running_server

pytestmark = [pytest.mark.slow, pytest.mark.faults]

# Heroku sends SIGTERM, then SIGKILL 30 s later; Render and `docker stop` wait as long or less.
PLATFORM_SIGKILL_AFTER_SECONDS = 30
# Heroku's router answers a request with an error once it has waited 30 s (Render's waits far longer).
ROUTER_GIVES_UP_AFTER_SECONDS = 30
# Mixed load: the landing page, and a view that keeps requests in flight longer.
PAGES = ("/", "/faults/slow?seconds=0.1")
WORKERS = "2"


@pytest.fixture
def start(fault_project, project_python, tmp_path):
    """Start the Procfile's web process with production settings and `env` on top."""

    def start(**env):
        environment = production_env(project_python, WEB_CONCURRENCY=WORKERS, **env)
        return running_server(procfile_command(fault_project, "web"), fault_project, environment, tmp_path / "gunicorn.log")

    return start


def report(name, load, extra=""):
    print(f"\n[{name}] {load.summary()}{extra}")


def gunicorn_setting(python, project_dir, name):
    """A setting as gunicorn resolves it from gunicorn.conf.py."""
    output = run([str(python), "-m", "gunicorn", "--print-config"], project_dir, production_env(python)).stdout
    return re.search(rf"^{name}\s*=\s*(.*)$", output, re.MULTILINE).group(1)


def test_sighup_reload_replaces_every_worker_and_fails_no_request(start):
    with start() as server:
        master = server.process.pid
        old_workers = wait_for_workers(master, 2)
        with Load(server.port, PAGES, threads=8) as load:
            load.wait_for(100)
            reloaded_at = time.monotonic()
            os.kill(master, signal.SIGHUP)
            new_workers = wait_for_workers(master, 2, excluding=old_workers)
            load.wait_for(200)

    report("SIGHUP", load, f", {len(load.failures())} failed")
    assert load.failures() == []
    assert [outcome for outcome in load.outcomes if outcome.in_flight_at(reloaded_at)], "no request was in flight at SIGHUP"
    assert not new_workers & old_workers


def test_sigterm_finishes_in_flight_requests_refuses_new_ones_and_exits_0_within_graceful_timeout(start, fault_project, project_python):
    graceful_timeout = float(gunicorn_setting(project_python, fault_project, "graceful_timeout"))
    assert graceful_timeout < PLATFORM_SIGKILL_AFTER_SECONDS

    with start() as server:
        with Load(server.port, PAGES, threads=8) as load:
            load.wait_for(100)
            slow = {}
            slow_client = threading.Thread(target=lambda: slow.update(outcome=request(server.port, "/faults/slow?seconds=2")))
            slow_client.start()
            time.sleep(0.5)
            stopped_at = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            exit_code = server.process.wait(timeout=graceful_timeout + 5)
            exited_at = time.monotonic()
            slow_client.join()

    slow = slow["outcome"]
    before = [outcome for outcome in load.outcomes if outcome.started < stopped_at]
    after = [outcome for outcome in load.outcomes if outcome.started > stopped_at]
    refused = [outcome for outcome in after if outcome.error == "ConnectionRefusedError"]
    served_after = [outcome for outcome in after if outcome.status == 200]
    dropped = [outcome for outcome in after if outcome.status != 200 and outcome.error != "ConnectionRefusedError"]
    report("SIGTERM", load, f": {len(before)} started before SIGTERM, {len([o for o in before if o.status != 200])} failed; "
           f"{len(after)} after, {len(served_after)} served, {len(refused)} refused at connect, {len(dropped)} failed otherwise; "
           f"the 2 s request: {slow.status}; exit {exit_code} after {exited_at - stopped_at:.2f} s (graceful_timeout {graceful_timeout:g} s)")
    assert exit_code == 0
    assert exited_at - stopped_at < graceful_timeout
    assert slow.status == 200 and slow.ended > stopped_at + 1  # waited for, not cut short
    assert [outcome for outcome in before if outcome.in_flight_at(stopped_at)], "no request was in flight at SIGTERM"
    assert [outcome for outcome in before if outcome.status != 200] == []
    # A new connection is served or refused outright, never accepted and dropped,
    # and refusals start as soon as the workers stop accepting, not when the last one exits.
    assert dropped == []
    assert refused and min(outcome.started for outcome in refused) < slow.ended


def test_on_sigterm_the_socket_ignores_new_connections_at_once_and_serves_those_already_queued(start):
    """Workers held still (SIGSTOP) keep the listening socket open after the
    master has stopped: the kernel would go on completing connections for
    them, and reset those they never accept. The master makes it ignore new
    ones before it stops."""
    with start() as server:
        master = server.process.pid
        workers = wait_for_workers(master, 2)
        for worker in workers:
            os.kill(worker, signal.SIGSTOP)
        try:
            queued = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            queued.request("GET", "/healthz", headers=VIA_HTTPS)
            server.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            while holds_listening_socket(master, server.port):  # closed as the master stops
                assert time.monotonic() < deadline, "the master kept its listening socket 10 s after SIGTERM"
                time.sleep(0.01)
            ignored = connection_is_ignored(server.port)
        finally:
            for worker in workers:
                os.kill(worker, signal.SIGCONT)
        status = queued.getresponse().status
        exit_code = server.process.wait(timeout=30)

    print(f"\n[SIGTERM, workers held] a new connection was {'ignored' if ignored else 'completed'}; "
          f"the request queued before SIGTERM: {status}; exit {exit_code}")
    assert ignored, "a connection completed after SIGTERM, with every worker stopping"
    assert status == 200
    assert exit_code == 0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1)


def connection_is_ignored(port):
    """Whether a connection attempt to `port` gets no answer (its SYN dropped) rather than completing."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except TimeoutError:
        return True
    return False


def test_a_killed_worker_is_replaced_and_only_the_requests_it_was_serving_fail(start):
    with start() as server:
        master = server.process.pid
        workers = wait_for_workers(master, 2)
        with Load(server.port, PAGES, threads=8) as load:
            load.wait_for(100)
            doomed = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            doomed.request("GET", "/faults/slow?seconds=5", headers=VIA_HTTPS)
            time.sleep(0.3)
            victim = pid_serving(doomed.sock, workers)
            killed_at = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
                doomed.getresponse()
            replacement = wait_for_workers(master, 2, excluding={victim}) - workers
            load.wait_for(200)

    failures = load.failures()
    report("SIGKILL", load, f", {len(failures)} failed, each in flight on the killed worker; and the 5 s request on it")
    assert len(replacement) == 1
    assert [outcome for outcome in failures if not outcome.in_flight_at(killed_at)] == []
    assert [outcome for outcome in load.outcomes if outcome.started > killed_at and outcome.status != 200] == []


def test_by_default_a_hung_request_is_cut_off_no_later_than_herokus_router_gives_up_on_it(fault_project, project_python):
    assert 0 < float(gunicorn_setting(project_python, fault_project, "timeout")) <= ROUTER_GIVES_UP_AFTER_SECONDS


def test_a_hung_request_is_cut_off_at_timeout_and_its_worker_replaced_while_others_are_served(start):
    timeout = 3
    with start(GUNICORN_CMD_ARGS=f"--timeout {timeout}") as server:
        master = server.process.pid
        workers = wait_for_workers(master, 2)
        with Load(server.port, PAGES, threads=6) as load:
            load.wait_for(50)
            hung = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            sent_at = time.monotonic()
            hung.request("GET", "/faults/hang", headers=VIA_HTTPS)
            time.sleep(0.3)
            victim = pid_serving(hung.sock, workers)
            with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
                hung.getresponse()
            cut_off_after = time.monotonic() - sent_at
            replacement = wait_for_workers(master, 2, excluding={victim}) - workers
            load.wait_for(100)
        log = server.log()

    report("hung request", load, f", {len(load.failures())} failed; the hung request was cut off after {cut_off_after:.1f} s (timeout {timeout} s)")
    assert load.failures() == []
    # The watchdog looks twice a second, then gives the worker's other
    # requests and kept-alive connections gunicorn's 2 s linger.
    assert timeout <= cut_off_after < timeout + 3.5
    assert f"REQUEST TIMEOUT: GET /faults/hang ran longer than {timeout} s; replacing worker (pid:{victim})" in log
    assert len(replacement) == 1


def test_a_stream_running_three_times_the_timeout_arrives_whole_and_its_worker_stays(start):
    # The watchdog times each chunk while the application makes it (0.5 s), not the stream.
    timeout, chunks, every = 3, 18, 0.5
    with start(GUNICORN_CMD_ARGS=f"--timeout {timeout}") as server:
        workers = wait_for_workers(server.process.pid, 2)
        stream = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        sent_at = time.monotonic()
        stream.request("GET", f"/faults/stream?chunks={chunks}&every={every}", headers=VIA_HTTPS)
        response = stream.getresponse()
        body = response.read()
        took = time.monotonic() - sent_at
        stream.close()
        time.sleep(1)  # a watchdog that had fired would be replacing its worker by now
        still_serving = wait_for_workers(server.process.pid, 2)
        log = server.log()

    print(f"\n[stream] {chunks} chunks, one every {every} s, arrived whole in {took:.1f} s (timeout {timeout} s)")
    assert response.status == 200
    assert body == b"".join(f"chunk {number}\n".encode() for number in range(chunks))
    assert took >= chunks * every > 3 * timeout - 1
    assert [line for line in log.splitlines() if "TIMEOUT" in line] == []
    assert still_serving == workers


def test_a_stream_whose_application_hangs_between_chunks_is_cut_off_at_timeout(start):
    timeout = 3
    with start(GUNICORN_CMD_ARGS=f"--timeout {timeout}") as server:
        master = server.process.pid
        workers = wait_for_workers(master, 2)
        stream = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        sent_at = time.monotonic()
        stream.request("GET", "/faults/stream-then-hang", headers=VIA_HTTPS)
        time.sleep(0.3)
        victim = pid_serving(stream.sock, workers)
        response = stream.getresponse()
        first_line = response.readline()
        with pytest.raises(http.client.IncompleteRead):
            response.read()
        cut_off_after = time.monotonic() - sent_at
        replacement = wait_for_workers(master, 2, excluding={victim}) - workers
        log = server.log()

    assert (response.status, first_line) == (200, b"chunk 0\n")
    assert timeout <= cut_off_after < timeout + 3.5
    assert f"REQUEST TIMEOUT: GET /faults/stream-then-hang ran longer than {timeout} s; replacing worker (pid:{victim})" in log
    assert len(replacement) == 1


def test_a_large_response_to_a_client_reading_it_slowly_for_longer_than_the_timeout_arrives_whole(start):
    timeout, megabytes = 3, 16
    with start(GUNICORN_CMD_ARGS=f"--timeout {timeout}") as server:
        workers = wait_for_workers(server.process.pid, 2)
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as client:
            client.sendall(
                f"GET /faults/large?megabytes={megabytes} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "X-Forwarded-Proto: https\r\nConnection: close\r\n\r\n".encode()
            )
            received = bytearray()
            while chunk := client.recv(64 * 1024):
                received += chunk
                time.sleep(0.02)  # at most 3 MiB/s
        time.sleep(1)  # a watchdog that had fired would be replacing its worker by now
        still_serving = wait_for_workers(server.process.pid, 2)
        log = server.log()

    head, _, body = bytes(received).partition(b"\r\n\r\n")
    # The access log's time taken runs until gunicorn has written the last byte to the socket.
    [sending_ms] = re.findall(rf'"GET /faults/large\?megabytes={megabytes} HTTP/1\.1" 200 \d+B (\d+)ms', log)
    print(f"\n[slow client] {megabytes} MiB sent in {int(sending_ms) / 1000:.1f} s (timeout {timeout} s)")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert body == b"x" * (megabytes << 20)
    assert int(sending_ms) > timeout * 1000
    assert [line for line in log.splitlines() if "TIMEOUT" in line] == []
    assert still_serving == workers


def test_recycling_workers_often_under_sustained_load_loses_no_request(start):
    with start(GUNICORN_CMD_ARGS="--max-requests 50 --max-requests-jitter 10") as server:
        with Load(server.port, PAGES, threads=8, max_requests=1000) as load:
            load.wait_for(1000, timeout=120)
        recycles = server.log().count("Autorestarting worker after current request.")

    report("recycling", load, f", {len(load.failures())} failed; {recycles} worker recycles (max_requests 50-60)")
    assert load.failures() == []
    assert recycles >= 10


def test_readiness_answers_503_while_postgresql_is_down_and_recovers_while_liveness_stays_200(start, postgres_cluster, fault_project, project_python):
    # A database that accepts TCP but never answers: libpq's connect_timeout
    # (DATABASE_CONNECT_TIMEOUT, 5 s by default) must end the wait.
    connect_timeout = 5
    env = {"DATABASE_URL": postgres_cluster.url}
    with start(**env) as server:
        with Load(server.port, ("/readyz", "/healthz"), threads=6, max_seconds=120) as load:
            load.wait_for(50)
            stopping_at = time.monotonic()
            postgres_cluster.stop()
            down_at = time.monotonic()
            load.wait_for(100)
            with socket.create_server(("127.0.0.1", postgres_cluster.port), reuse_port=False) as silent_database:
                hung_at = time.monotonic()
                time.sleep(connect_timeout + 2)
            starting_at = time.monotonic()
            postgres_cluster.start()
            up_at = time.monotonic()
            time.sleep(3)

    ready = [outcome for outcome in load.outcomes if outcome.path == "/readyz"]
    alive = [outcome for outcome in load.outcomes if outcome.path == "/healthz"]
    while_down = [outcome for outcome in ready if down_at < outcome.started and outcome.ended < starting_at]
    recovered = [outcome for outcome in ready if outcome.started > up_at + 1]
    report("database down", load, f": /healthz {len(alive)}, {len([o for o in alive if o.status != 200])} failed; "
           f"/readyz {len(ready)}, {len(while_down)} answered 503 while PostgreSQL was down (slowest {max(o.ended - o.started for o in while_down):.1f} s), "
           f"{len([o for o in ready if o.status not in (200, 503)])} failed otherwise")
    assert [outcome.status for outcome in alive if outcome.status != 200] == []
    assert {outcome.status for outcome in ready if outcome.ended < stopping_at} == {200}
    assert while_down and {outcome.status for outcome in while_down} == {503}
    assert [outcome for outcome in while_down if outcome.started > hung_at], "no readiness check met the silent database"
    assert max(outcome.ended - outcome.started for outcome in ready) < connect_timeout + 1.5
    assert recovered and {outcome.status for outcome in recovered} == {200}
    assert [outcome.status for outcome in ready if outcome.status not in (200, 503)] == []


def test_slow_clients_sending_headers_byte_by_byte_for_30_s_do_not_stop_others_being_served(start):
    # Sixteen of them: more than one worker has threads, and far more than
    # the workers a process-per-request worker type (gunicorn's default,
    # sync) would have, which would be stuck; gthread only parks a thread
    # for each, spread over the workers.
    slow_clients, trickle_seconds = 16, 30
    head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n"

    def trickle(results):
        with socket.create_connection(("127.0.0.1", server.port), timeout=trickle_seconds + 10) as client:
            pause = trickle_seconds / len(head)
            for byte in head:
                client.sendall(bytes([byte]))
                time.sleep(pause)
            results.append(client.recv(100).split(b"\r\n")[0])

    with start() as server:
        statuses = []
        tricklers = [threading.Thread(target=trickle, args=(statuses,)) for _ in range(slow_clients)]
        for trickler in tricklers:
            trickler.start()
        with Load(server.port, PAGES, threads=4, max_seconds=trickle_seconds) as load:
            for trickler in tricklers:
                trickler.join()

    slowest = max(outcome.ended - outcome.started for outcome in load.outcomes)
    report("slow clients", load, f", {len(load.failures())} failed, slowest {slowest:.2f} s, while {slow_clients} clients trickled headers for {trickle_seconds} s")
    assert load.failures() == []
    assert len(load.outcomes) > 300
    # Stuck behind a trickling client, a request would wait the full 30 s;
    # 2 s leaves room for a busy shared machine.
    assert slowest < 2
    assert statuses == [b"HTTP/1.1 200 OK"] * slow_clients  # and the slow clients are served in the end
