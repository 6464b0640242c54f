"""Worker and thread sizing, checked against fake cgroup trees.

Every test builds its own /sys/fs/cgroup look-alike under tmp_path and passes
its own CPU affinity (or stands in for the scheduler's), so the results do not
depend on the machine running them. The last tests start a real gunicorn to
show the pieces fit together.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from {{ cookiecutter.project_slug }}.plumbing.server import sizing
from {{ cookiecutter.project_slug }}.plumbing.server.sizing import (
    DEFAULT_DATABASE_MAX_CONNECTIONS,
    DEFAULT_THREADS,
    V1_UNLIMITED_MEMORY,
    SizingError,
    available_cpus,
    memory_limit_bytes,
    server_size,
    thread_count,
    worker_count,
    workers_for_cpus,
)

MIB = 1024 * 1024
BIG_HOST = set(range(64))
V1_UNLIMITED = "9223372036854771712"


def cgroup_tree(tmp_path, files):
    """Write `files` ({relative path: contents}) under a fake cgroup root."""
    root = tmp_path / "cgroup"
    root.mkdir()
    for relative, contents in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(contents)
    return root


def proc_self_cgroup(tmp_path, contents="0::/\n"):
    path = tmp_path / "proc_self_cgroup"
    path.write_text(contents)
    return path


def cpus_on_big_host(tmp_path, files, own_cgroup="0::/\n"):
    return available_cpus(
        cgroup_root=cgroup_tree(tmp_path, files),
        affinity=BIG_HOST,
        proc_self_cgroup=proc_self_cgroup(tmp_path, own_cgroup),
    )


def cpus_by_the_schedulers_affinity(tmp_path):
    """available_cpus() as the scheduler sees this process, with no cgroup limits."""
    return available_cpus(cgroup_root=cgroup_tree(tmp_path, {}), proc_self_cgroup=proc_self_cgroup(tmp_path))


def pinned_to(cpus):
    """A stand-in for os.sched_getaffinity: this process (pid 0) may run on `cpus`."""

    def sched_getaffinity(pid):
        assert pid == 0, f"asked for the affinity of process {pid}, not of this one"
        return set(cpus)

    return sched_getaffinity


def memory_limit(tmp_path, files, own_cgroup="0::/\n"):
    return memory_limit_bytes(
        cgroup_root=cgroup_tree(tmp_path, files),
        proc_self_cgroup=proc_self_cgroup(tmp_path, own_cgroup),
    )


# --- CPUs -------------------------------------------------------------------


def test_without_cgroup_files_every_cpu_in_the_affinity_is_available(tmp_path):
    assert cpus_on_big_host(tmp_path, {}) == 64


def test_a_cgroup_v2_quota_of_max_means_no_cpu_limit(tmp_path):
    assert cpus_on_big_host(tmp_path, {"cpu.max": "max 100000\n"}) == 64


def test_a_two_cpu_quota_on_a_big_host_gives_two_cpus(tmp_path):
    assert cpus_on_big_host(tmp_path, {"cpu.max": "200000 100000\n"}) == 2


@pytest.mark.parametrize(
    "cpu_max, expected",
    [("150000 100000", 2), ("50000 100000", 1), ("250000 100000", 3)],
)
def test_a_fractional_cpu_quota_rounds_up(tmp_path, cpu_max, expected):
    assert cpus_on_big_host(tmp_path, {"cpu.max": cpu_max}) == expected


@pytest.mark.parametrize("directory", ["cpu", "cpu,cpuacct"])
def test_a_cgroup_v1_quota_limits_the_cpus(tmp_path, directory):
    files = {
        f"{directory}/cpu.cfs_quota_us": "300000\n",
        f"{directory}/cpu.cfs_period_us": "100000\n",
    }
    assert cpus_on_big_host(tmp_path, files) == 3


def test_a_cgroup_v1_quota_of_minus_one_means_no_cpu_limit(tmp_path):
    files = {
        "cpu/cpu.cfs_quota_us": "-1\n",
        "cpu/cpu.cfs_period_us": "100000\n",
    }
    assert cpus_on_big_host(tmp_path, files) == 64


def test_an_affinity_smaller_than_the_quota_wins(tmp_path):
    cpus = available_cpus(
        cgroup_root=cgroup_tree(tmp_path, {"cpu.max": "400000 100000"}),
        affinity={0},
        proc_self_cgroup=proc_self_cgroup(tmp_path),
    )
    assert cpus == 1


def test_a_process_pinned_to_three_cpus_of_a_big_host_sees_three(tmp_path, monkeypatch):
    # taskset, a cpuset or docker --cpuset-cpus: the scheduler's affinity, not the host's CPUs.
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sched_getaffinity", pinned_to({4, 5, 6}), raising=False)
    assert cpus_by_the_schedulers_affinity(tmp_path) == 3


@pytest.mark.parametrize("cpu_count, expected", [(6, 6), (None, 1)], ids=["six-cpus", "unknown"])
def test_without_cpu_affinity_every_cpu_counts_and_an_unknown_count_is_one(tmp_path, monkeypatch, cpu_count, expected):
    # macOS has no sched_getaffinity; os.cpu_count() returns None when it cannot tell.
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: cpu_count)
    assert cpus_by_the_schedulers_affinity(tmp_path) == expected


@pytest.mark.parametrize("cpu_max", ["", "lots 100000", "200000 often", "0 100000", "-5 100000", "100000 0"])
def test_a_garbage_cpu_quota_means_no_limit(tmp_path, cpu_max):
    assert cpus_on_big_host(tmp_path, {"cpu.max": cpu_max}) == 64


@pytest.mark.parametrize("cpu_max, expected", [("150000", 2), ("max", 64)])
def test_a_cpu_max_without_a_period_uses_the_default_period_of_100_ms(tmp_path, cpu_max, expected):
    assert cpus_on_big_host(tmp_path, {"cpu.max": cpu_max}) == expected


@pytest.mark.parametrize(
    "cpu_max, expected",
    [("1 100000", 1), ("3 1", 3)],
    ids=["one-microsecond-quota", "one-microsecond-period"],
)
def test_the_smallest_positive_quota_and_period_are_still_a_limit(tmp_path, cpu_max, expected):
    assert cpus_on_big_host(tmp_path, {"cpu.max": cpu_max}) == expected


def test_an_unreadable_cpu_quota_means_no_limit(tmp_path):
    root = cgroup_tree(tmp_path, {})
    (root / "cpu.max").mkdir()  # reading a directory fails like a locked file
    (root / "memory.max").write_bytes(b"\xff\xfe")  # not even text
    own_cgroup = proc_self_cgroup(tmp_path)
    cpus = available_cpus(root, affinity=BIG_HOST, proc_self_cgroup=own_cgroup)
    assert cpus == 64
    assert memory_limit_bytes(root, proc_self_cgroup=own_cgroup) is None


@pytest.mark.parametrize(
    "own_quota, parent_quota, expected",
    [
        ("max 100000", "300000 100000", 3),  # e.g. a systemd slice's CPUQuota=
        ("200000 100000", "600000 100000", 2),  # the service's own CPUQuota=
    ],
)
def test_outside_a_container_the_tightest_quota_on_our_cgroup_path_applies(tmp_path, own_quota, parent_quota, expected):
    files = {
        "cpu.max": "max 100000",
        "system.slice/cpu.max": parent_quota,
        "system.slice/app.service/cpu.max": own_quota,
    }
    own_cgroup = "0::/system.slice/app.service\n"
    assert cpus_on_big_host(tmp_path, files, own_cgroup) == expected


@pytest.mark.parametrize("directory", ["cpu", "cpu,cpuacct"])
def test_on_a_cgroup_v1_host_a_quota_on_our_own_cgroup_or_a_parent_applies(tmp_path, directory):
    files = {
        f"{directory}/system.slice/cpu.cfs_quota_us": "400000\n",
        f"{directory}/system.slice/cpu.cfs_period_us": "100000\n",
        f"{directory}/system.slice/app.service/cpu.cfs_quota_us": "200000\n",
        f"{directory}/system.slice/app.service/cpu.cfs_period_us": "100000\n",
    }
    own_cgroups = "4:memory:/system.slice/app.service\n2:cpu,cpuacct:/system.slice/app.service\n0::/\n"
    assert cpus_on_big_host(tmp_path, files, own_cgroups) == 2


def test_a_colon_in_our_cgroup_path_is_part_of_the_path(tmp_path):
    files = {"system.slice/app:web.service/cpu.max": "200000 100000"}
    assert cpus_on_big_host(tmp_path, files, "0::/system.slice/app:web.service\n") == 2


def test_a_line_of_proc_self_cgroup_that_is_not_id_controllers_path_does_not_hide_the_lines_after_it(tmp_path):
    files = {"system.slice/app.service/cpu.max": "200000 100000"}
    own_cgroup = "not a cgroup line\n0::/system.slice/app.service\n"
    assert cpus_on_big_host(tmp_path, files, own_cgroup) == 2


def test_a_cgroup_path_outside_the_mounted_tree_is_not_followed(tmp_path):
    # In a cgroup namespace, a cgroup outside it shows up as "/../...".
    outside = tmp_path / "elsewhere" / "cpu.max"
    outside.parent.mkdir()
    outside.write_text("100000 100000")
    assert cpus_on_big_host(tmp_path, {}, "0::/../elsewhere\n") == 64


# --- Memory -----------------------------------------------------------------


def test_without_cgroup_files_there_is_no_memory_limit(tmp_path):
    assert memory_limit(tmp_path, {}) is None


@pytest.mark.parametrize(
    "files, expected",
    [
        ({"memory.max": "268435456\n"}, 256 * MIB),
        ({"memory.max": "max\n"}, None),
        ({"memory/memory.limit_in_bytes": "536870912\n"}, 512 * MIB),
        ({"memory/memory.limit_in_bytes": V1_UNLIMITED}, None),
        ({"memory.max": "plenty"}, None),
        ({"memory.max": "0\n"}, None),
        ({"memory.max": "1\n"}, 1),
        ({"memory/memory.limit_in_bytes": str(V1_UNLIMITED_MEMORY)}, None),
    ],
    ids=["v2-limit", "v2-max", "v1-limit", "v1-huge", "garbage", "zero", "one-byte", "v1-at-the-unlimited-threshold"],
)
def test_the_memory_limit_is_read_from_cgroup_v2_or_v1(tmp_path, files, expected):
    assert memory_limit(tmp_path, files) == expected


def test_on_a_cgroup_v1_host_the_memory_limit_of_our_own_cgroup_applies(tmp_path):
    files = {
        "memory/memory.limit_in_bytes": V1_UNLIMITED,
        "memory/system.slice/app.service/memory.limit_in_bytes": str(300 * MIB),
        "memory/other.slice/memory.limit_in_bytes": str(100 * MIB),  # not ours
    }
    own_cgroups = "6:cpu,cpuacct:/\n4:memory:/system.slice/app.service\n"
    assert memory_limit(tmp_path, files, own_cgroups) == 300 * MIB


def test_a_memory_limit_on_a_parent_cgroup_applies(tmp_path):
    files = {
        "system.slice/memory.max": str(1024 * MIB),
        "system.slice/app.service/memory.max": "max",
    }
    own_cgroup = "0::/system.slice/app.service\n"
    assert memory_limit(tmp_path, files, own_cgroup) == 1024 * MIB


# --- Workers ----------------------------------------------------------------


def test_the_default_formula_is_one_worker_per_cpu_plus_one():
    assert [workers_for_cpus(cpus) for cpus in (1, 2, 3, 8)] == [2, 3, 4, 9]


@pytest.mark.parametrize("cpus", [1, 2, 4, 64])
def test_without_settings_or_memory_limit_workers_follow_the_cpus(cpus):
    assert worker_count({}, cpus=cpus, memory_limit=None) == workers_for_cpus(cpus)


def test_web_concurrency_wins_over_cpus_and_memory():
    environ = {"WEB_CONCURRENCY": "7"}
    assert worker_count(environ, cpus=1, memory_limit=64 * MIB) == 7


def test_web_concurrency_may_have_surrounding_whitespace():
    assert worker_count({"WEB_CONCURRENCY": " 3\n"}, 8, None) == 3


@pytest.mark.parametrize(
    "files, expected",
    [
        ({"memory.max": str(256 * MIB)}, 1),  # (256 - 32) // 128
        ({"memory.max": str(512 * MIB)}, 3),  # (512 - 32) // 128
        ({"memory.max": "max"}, 9),
        ({"memory/memory.limit_in_bytes": V1_UNLIMITED}, 9),
    ],
    ids=["v2-256MiB", "v2-512MiB", "v2-max", "v1-huge"],
)
def test_a_memory_limit_caps_the_workers_of_an_eight_cpu_box(tmp_path, files, expected):
    limit = memory_limit(tmp_path, files)
    assert worker_count({}, cpus=8, memory_limit=limit) == expected


def test_a_memory_limit_too_small_for_one_worker_still_gives_one():
    assert worker_count({}, cpus=8, memory_limit=16 * MIB) == 1


def test_plenty_of_memory_does_not_add_workers_beyond_the_cpu_formula():
    assert worker_count({}, cpus=4, memory_limit=64 * 1024 * MIB) == 5


def test_gunicorn_worker_memory_mb_changes_the_budget_per_worker():
    environ = {"GUNICORN_WORKER_MEMORY_MB": "64"}
    # (256 - 32) // 64 instead of (256 - 32) // 128
    assert worker_count(environ, cpus=8, memory_limit=256 * MIB) == 3


# --- Threads ----------------------------------------------------------------


def test_threads_default_to_the_named_constant():
    assert thread_count({}) == DEFAULT_THREADS == 48


def test_gunicorn_threads_sets_the_threads():
    assert thread_count({"GUNICORN_THREADS": "4"}) == 4


# --- Database connections ---------------------------------------------------


def test_each_worker_gets_an_even_share_of_the_instances_database_connections():
    size = server_size({}, cpus=2, memory_limit=None)

    assert DEFAULT_DATABASE_MAX_CONNECTIONS == 12
    assert (size.workers, size.threads, size.connections_per_worker) == (3, DEFAULT_THREADS, 4)
    assert size.notes() == []


def test_a_budget_that_does_not_divide_evenly_leaves_the_rest_unused():
    size = server_size({"DATABASE_MAX_CONNECTIONS": "8"}, cpus=2, memory_limit=None)

    assert (size.workers, size.connections_per_worker, size.database_max_connections) == (3, 2, 8)


def test_fewer_connections_than_workers_means_as_many_workers_as_connections_and_a_note_saying_so():
    size = server_size({"DATABASE_MAX_CONNECTIONS": "2", "WEB_CONCURRENCY": "5"}, cpus=8, memory_limit=None)

    assert (size.workers, size.connections_per_worker, size.workers_cut_from) == (2, 1, 5)
    assert size.notes() == [
        "DATABASE_MAX_CONNECTIONS=2 is fewer than the 5 workers this instance would run; "
        "running 2 workers with 1 database connection each."
    ]


def test_the_memory_limit_and_web_concurrency_still_decide_the_workers_within_the_budget():
    assert server_size({}, cpus=8, memory_limit=256 * MIB).workers == 1
    assert (
        server_size(
            {"WEB_CONCURRENCY": "6", "DATABASE_MAX_CONNECTIONS": "30"}, cpus=1, memory_limit=None
        ).connections_per_worker
        == 5
    )


def test_this_instance_is_sized_for_the_cpus_and_memory_this_process_may_use(monkeypatch):
    # 8 CPUs would make 9 workers; 512 MiB holds only (512 - 32) // 128 = 3.
    monkeypatch.setattr(sizing, "available_cpus", lambda: 8)
    monkeypatch.setattr(sizing, "memory_limit_bytes", lambda: 512 * MIB)
    size = sizing.this_instance({"GUNICORN_THREADS": "4"})
    assert (size.workers, size.threads, size.connections_per_worker) == (3, 4, 4)


# --- Bad settings -----------------------------------------------------------


def size(environ):
    return server_size(environ, cpus=4, memory_limit=1024 * MIB)


@pytest.mark.parametrize(
    "name, unit",
    [
        ("WEB_CONCURRENCY", "worker processes"),
        ("GUNICORN_WORKER_MEMORY_MB", "megabytes (MiB) per worker"),
        ("GUNICORN_THREADS", "threads per worker"),
        ("DATABASE_MAX_CONNECTIONS", "database connections for this instance, all workers together"),
    ],
    ids=["WEB_CONCURRENCY", "GUNICORN_WORKER_MEMORY_MB", "GUNICORN_THREADS", "DATABASE_MAX_CONNECTIONS"],
)
@pytest.mark.parametrize(
    # "\u00b3" is a superscript three: str.isdigit() accepts it, int() does not.
    "value",
    ["two", "0", "-3", "", "2.5", "+4", "1_000", "\u00b3"],
    ids=ascii,
)
def test_a_setting_that_is_not_a_positive_whole_number_is_rejected_by_name(name, unit, value):
    with pytest.raises(SizingError) as excinfo:
        size({name: value})
    assert str(excinfo.value) == (f"{name} must be a positive whole number of {unit}, got {value!r}")


def test_a_bad_worker_memory_budget_is_reported_even_without_a_memory_limit():
    with pytest.raises(SizingError, match="GUNICORN_WORKER_MEMORY_MB"):
        worker_count({"GUNICORN_WORKER_MEMORY_MB": "lots"}, cpus=2, memory_limit=None)


def test_sizing_errors_are_value_errors():
    assert issubclass(SizingError, ValueError)


# --- A real gunicorn pinned to one CPU ---------------------------------------

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SIZING_VARIABLES = {
    "WEB_CONCURRENCY",
    "GUNICORN_THREADS",
    "GUNICORN_WORKER_MEMORY_MB",
    "DATABASE_MAX_CONNECTIONS",
    "GUNICORN_CMD_ARGS",
}
# --print-config also imports the app; a stdlib one keeps Django out of this.
TRIVIAL_APP = "wsgiref.simple_server:demo_app"

needs_affinity = pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux-only")


def run_on_one_cpu(args, environ):
    """Run `python ARGS` in the project root, allowed on one CPU only."""
    cpu = min(os.sched_getaffinity(0))
    env = {k: v for k, v in os.environ.items() if k not in SIZING_VARIABLES}
    env.update(environ)
    return subprocess.run(
        [sys.executable, *args],
        cwd=PROJECT_ROOT,
        env=env,
        preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),
        capture_output=True,
        text=True,
        timeout=60,
    )


def gunicorn_setting(output, name):
    match = re.search(rf"^{name}\s*=\s*(.*)$", output, re.MULTILINE)
    assert match, f"no {name!r} line in:\n{output}"
    return match.group(1)


@needs_affinity
def test_a_process_pinned_to_one_cpu_sees_one_cpu():
    module = available_cpus.__module__
    code = f"import {module} as sizing; print(sizing.available_cpus())"
    result = run_on_one_cpu(["-c", code], {})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"


@needs_affinity
@pytest.mark.parametrize("environ", [{}, {"WEB_CONCURRENCY": "3"}], ids=["computed", "WEB_CONCURRENCY"])
def test_gunicorn_on_one_cpu_starts_the_computed_workers(environ):
    args = ["-m", "gunicorn", "--print-config", TRIVIAL_APP]
    result = run_on_one_cpu(args, environ)
    assert result.returncode == 0, result.stderr

    expected = worker_count(environ, cpus=1, memory_limit=memory_limit_bytes())
    if environ:
        assert expected == 3
    assert gunicorn_setting(result.stdout, "workers") == str(expected)
    assert gunicorn_setting(result.stdout, "threads") == str(DEFAULT_THREADS)


@needs_affinity
def test_gunicorn_refuses_a_bad_setting_with_one_clear_line():
    args = ["-m", "gunicorn", "--print-config", TRIVIAL_APP]
    result = run_on_one_cpu(args, {"GUNICORN_THREADS": "many"})
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "GUNICORN_THREADS must be a positive whole number of threads per worker, got 'many'"
    )
