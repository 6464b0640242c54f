"""Run a real, private Docker engine for tests, and give it a stand-in Python base image.

Why this exists: the template's tests must build and run the generated
project's Dockerfile for real, but the test machines (developers' and CI's)
have no Docker engine running and can pull no image from any registry.  Only
package registries (Debian's apt, PyPI, npm) are reachable.  So this module:

* starts a private ``dockerd`` (Debian's ``docker.io`` package) whose socket,
  data and state all live in one directory of its own, so it touches neither
  ``/var/run/docker.sock`` nor any other engine's files, and stops it by PID;
* builds, with ``debootstrap`` and the machine's own CPython builds, a local
  image tagged exactly like the official one (``python:3.13-slim``), so the
  generated Dockerfile's ``FROM python:3.13-slim`` is used unchanged;

Needs root, and the Debian packages ``docker.io`` and ``debootstrap``.
Typical use::

    with DockerEngine() as engine:
        ensure_python_base_image(engine, "3.13", cache_dir)
        engine.run_docker("build", "--progress=plain", "-t", "app", context_dir)
        port = free_port()  # support.network
        engine.run_docker("run", "-d", "-p", f"127.0.0.1:{port}:8000", "app")
        wait_for_http_200(port, "/")

Containers, build steps included, use the engine's default bridge network,
which the engine NATs out through the host; that reaches PyPI and Debian's
mirror here, so builds need no ``--network host``.

The engine is Debian 12's Docker 20.10 with its built-in BuildKit, so a
Dockerfile under test must not use what came later: a ``# syntax=`` line
(it would pull the docker/dockerfile image), heredocs (``RUN <<EOF``),
``COPY --link`` or ``HEALTHCHECK --start-interval``.  ``RUN --mount``
(cache, secret, bind) and ``COPY --chmod`` work.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

# Debian's docker.io ships its own client, matched to its 20.10 engine.  The
# `docker` first on PATH here (/usr/local/bin/docker) is a newer client that
# speaks an API this engine does not, so always call this one by full path.
DOCKER_CLIENT = "/usr/bin/docker"
DOCKERD = "/usr/sbin/dockerd"

# The mirror apt uses on these machines (/etc/apt/sources.list.d/debian.sources).
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_SUITE = "bookworm"

# Where the machine's CPython builds are (pyenv, built on Debian 12).
PYENV_VERSIONS = Path(os.environ.get("PYENV_ROOT", "/root/.pyenv")) / "versions"

# What the official python:X-slim image has besides Debian's minimal base:
# ca-certificates, netbase and tzdata, plus the shared libraries that CPython's
# extension modules (ssl, sqlite3, ctypes, lzma, readline, ...) link against.
# minbase already brings passwd (useradd/groupadd), as the official image has.
PYTHON_RUNTIME_PACKAGES = [
    "ca-certificates", "netbase", "tzdata",
    "libbz2-1.0", "libcrypt1", "libexpat1", "libffi8", "liblzma5",
    "libncursesw6", "libnsl2", "libreadline8", "libsqlite3-0", "libssl3",
    "libtinfo6", "libtirpc3", "libuuid1", "zlib1g",
]

# The CA bundle that lets clients through this machine's TLS-intercepting proxy.
HOST_CA_BUNDLE = os.environ.get("PIP_CERT", "/etc/ssl/certs/ca-certificates.crt")


# Set in the stand-in image (tests only) to the system CA bundle, for the
# installers that do not use the system's trust store by default: pip before
# 24.2 (vendored certifi), uv (bundled webpki roots), and requests-based tools
# such as poetry (certifi).  See _trust_host_ca_bundle.
CA_BUNDLE_VARIABLES = ["PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"]


class DockerCommandError(RuntimeError):
    """A docker command failed; the message carries its stdout and stderr."""


class DockerEngine:
    """A private dockerd whose socket, data and state live in ``root_dir``.

    ``root_dir`` defaults to a new directory under /tmp, removed by stop().
    Pass a directory of your own to keep images between runs.  Keep it short:
    the engine puts unix sockets in it, and their paths may not exceed 107 bytes.
    """

    def __init__(self, root_dir: Path | None = None):
        self._owns_root_dir = root_dir is None
        self.root_dir = Path(root_dir or tempfile.mkdtemp(prefix="dockerd-", dir="/tmp"))
        self.socket_path = self.root_dir / "docker.sock"
        self.log_path = self.root_dir / "dockerd.log"
        self._process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> None:
        if self._process is not None:
            # A second dockerd on the same directories would fail, but the
            # first one's socket would still answer and hide that.
            raise RuntimeError("this DockerEngine is already started")
        self.root_dir.mkdir(parents=True, exist_ok=True)
        (self.root_dir / "client-config").mkdir(exist_ok=True)
        command = [
            DOCKERD,
            "--host", f"unix://{self.socket_path}",
            "--data-root", str(self.root_dir / "data"),
            "--exec-root", str(self.root_dir / "exec"),
            "--pidfile", str(self.root_dir / "dockerd.pid"),
            # Ports published without an address (-p 8000:8000) bind to
            # loopback rather than to every interface.
            "--ip", "127.0.0.1",
        ]
        with open(self.log_path, "ab") as log:
            # Its own session, so a Ctrl-C meant for pytest does not reach it,
            # and so stop() can kill it together with the containerd it starts.
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while self._process.poll() is None and time.monotonic() < deadline:
            if self.run_docker("version", check=False, timeout=10).returncode == 0:
                return
            time.sleep(0.5)
        exit_status, log_tail = self._process.poll(), self._log_tail()  # before stop() clears them
        self.stop()
        raise RuntimeError(f"dockerd did not come up within {timeout}s (exit status {exit_status});"
                           f" its log ends:\n{log_tail}")

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM (dockerd then stops its containers), wait, then SIGKILL."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                # Its process group: dockerd and the containerd it started.
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
        self._process = None
        # dockerd can leave mounts behind in its directories (seen: the
        # netns/default bind mount); rmtree cannot remove a mount point.
        for mount_point in self._mount_points_inside_root_dir():
            subprocess.run(["umount", "--lazy", mount_point], check=False)
        if self._owns_root_dir:
            shutil.rmtree(self.root_dir, ignore_errors=True)

    def _mount_points_inside_root_dir(self) -> list[str]:
        prefix = f"{self.root_dir.resolve()}/"
        with open("/proc/self/mounts") as mounts:
            mount_points = [line.split()[1] for line in mounts]
        # Deepest first, so nested mounts come off before their parents.
        return sorted((point for point in mount_points if point.startswith(prefix)), reverse=True)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def __enter__(self) -> DockerEngine:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def run_docker(self, *args: str, check: bool = True, timeout: float = 1800,
                   stdin=None) -> subprocess.CompletedProcess:
        """Run Debian's docker client against this engine, with BuildKit on.

        Returns the CompletedProcess (text stdout/stderr); with ``check``,
        raises DockerCommandError carrying both outputs if the command fails.
        """
        env = {
            **os.environ,
            "DOCKER_HOST": f"unix://{self.socket_path}",
            # The 20.10 client has no buildx; this selects the engine's
            # built-in BuildKit instead of the legacy builder.
            "DOCKER_BUILDKIT": "1",
            # Keep the client away from ~/.docker (credentials, contexts).
            "DOCKER_CONFIG": str(self.root_dir / "client-config"),
        }
        env.pop("DOCKER_CONTEXT", None)
        result = subprocess.run(
            [DOCKER_CLIENT, *args], env=env, stdin=stdin, capture_output=True,
            text=True, timeout=timeout,
        )
        if check and result.returncode != 0:
            raise DockerCommandError(
                f"docker {' '.join(args)} exited with {result.returncode}\n"
                f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
            )
        return result

    def image_exists(self, tag: str) -> bool:
        return self.run_docker("image", "inspect", tag, check=False).returncode == 0

    def _log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def ensure_python_base_image(engine: DockerEngine, python_version: str, cache_dir: Path) -> str:
    """Make ``python:<python_version>-slim`` exist in the engine; return that tag.

    A local stand-in for the official image, for tests only: Debian bookworm
    (minbase) with the machine's own CPython build installed in /usr/local,
    as the official image has it.  Also tagged ``python:<v>-slim-bookworm``.
    Does nothing if the tag already exists.  ``cache_dir`` keeps the Debian
    root filesystem, so a second Python version costs no second debootstrap.
    """
    tag = f"python:{python_version}-slim"
    if engine.image_exists(tag):
        return tag
    python_prefix = _find_pyenv_build(python_version)
    full_version = python_prefix.name  # e.g. "3.13.0"
    major_minor = ".".join(full_version.split(".")[:2])

    rootfs = Path(cache_dir) / f"python-{python_version}-image-rootfs"
    shutil.rmtree(rootfs, ignore_errors=True)
    # cp -a, not shutil.copytree: the tree holds device nodes (/dev/null, ...).
    _run("cp", "-a", str(_debian_rootfs(Path(cache_dir))), str(rootfs))
    try:
        _install_python(rootfs, python_prefix, major_minor)
        _trust_host_ca_bundle(rootfs)
        _import_rootfs(engine, rootfs, tag, changes=[
            # As in the official image (PATH, LANG, PYTHON_VERSION, CMD) ...
            "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
            "ENV LANG=C.UTF-8",
            f"ENV PYTHON_VERSION={full_version}",
            # ... plus, for tests only, the installers' trust in the proxy's
            # CA (see _trust_host_ca_bundle).  Every FROM python:X-slim stage,
            # build and final, inherits this, so the Dockerfile needs nothing.
            *(f"ENV {variable}=/etc/ssl/certs/ca-certificates.crt"
              for variable in CA_BUNDLE_VARIABLES),
            'CMD ["python3"]',
        ])
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
    engine.run_docker("tag", tag, f"python:{python_version}-slim-{DEBIAN_SUITE}")
    # Fail here, not in some later Dockerfile, if the image is unusable.
    engine.run_docker("run", "--rm", tag, "python", "-c",
                      "import ssl, sqlite3, ctypes, lzma, bz2, uuid, zlib, readline, venv")
    return tag


def _find_pyenv_build(python_version: str) -> Path:
    """The newest pyenv build whose version is, or starts with, ``python_version``."""
    candidates = [
        path for path in PYENV_VERSIONS.glob(f"{python_version}*")
        if re.fullmatch(r"\d+\.\d+\.\d+", path.name)
        and (path.name == python_version or path.name.startswith(python_version + "."))
    ]
    if not candidates:
        raise RuntimeError(f"no CPython {python_version} under {PYENV_VERSIONS}")
    return max(candidates, key=lambda path: tuple(map(int, path.name.split("."))))


def _debian_rootfs(cache_dir: Path) -> Path:
    """A minimal Debian root filesystem with Python's runtime libraries, made once per cache_dir."""
    rootfs = cache_dir / f"debian-{DEBIAN_SUITE}-rootfs"
    done_marker = cache_dir / f"debian-{DEBIAN_SUITE}-rootfs.done"
    if done_marker.exists():
        return rootfs
    shutil.rmtree(rootfs, ignore_errors=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    _run("debootstrap", "--variant=minbase", "--include=" + ",".join(PYTHON_RUNTIME_PACKAGES),
         DEBIAN_SUITE, str(rootfs), DEBIAN_MIRROR)
    # As the official image: no downloaded .debs or package lists left behind
    # (a Dockerfile's own `apt-get update` fetches fresh lists) ...
    for leftover in [*rootfs.glob("var/cache/apt/archives/*.deb"),
                     *rootfs.glob("var/cache/apt/*.bin"),
                     *rootfs.glob("var/lib/apt/lists/*")]:
        if leftover.is_file():
            leftover.unlink()
    # ... and, as Debian's "slim" images, no docs, man pages or translations,
    # neither now nor from a Dockerfile's later apt-get install (~50 MB).
    (rootfs / "etc/dpkg/dpkg.cfg.d/slim-image").write_text(
        "path-exclude /usr/share/doc/*\n"
        "path-include /usr/share/doc/*/copyright\n"
        "path-exclude /usr/share/man/*\n"
        "path-exclude /usr/share/info/*\n"
        "path-exclude /usr/share/locale/*\n"
    )
    for path in [*rootfs.glob("usr/share/doc/*/*"), *rootfs.glob("usr/share/man/*"),
                 *rootfs.glob("usr/share/info/*"), *rootfs.glob("usr/share/locale/*")]:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        elif path.name != "copyright":
            path.unlink(missing_ok=True)  # may be gone already, via a symlinked doc dir
    done_marker.touch()
    return rootfs


def _install_python(rootfs: Path, python_prefix: Path, major_minor: str) -> None:
    """Copy a pyenv build into rootfs/usr/local, relocated, as the official image lays it out.

    Copying it to its own path (/root/.pyenv/...) and symlinking /usr/local/bin
    to it does not do: /root is mode 0700, so a Dockerfile's non-root user
    could not run the venv's python, whose symlink leads there.  Relocating
    works because CPython finds its prefix from where its executable is; only
    libpython's RPATH names the old prefix, so ldconfig must learn
    /usr/local/lib (which Debian's ld.so.conf already lists).
    """
    # Left out: what the official image deletes too (test suites, the static
    # libpython), and what it never has: the machine's own site-packages
    # (extra packages, machine-specific .pth hooks) and pip scripts whose
    # shebangs name the pyenv path.  ensurepip below puts a clean pip back.
    def left_out(directory: str, names: list[str]) -> list[str]:
        return [
            name for name in names
            if name in ("test", "tests", "idle_test", "site-packages")
            or fnmatch.fnmatch(name, "libpython*.a")
            or (Path(directory) == python_prefix / "bin" and name.startswith("pip"))
        ]

    local = rootfs / "usr/local"
    shutil.copytree(python_prefix, local, symlinks=True, ignore=left_out, dirs_exist_ok=True)
    (local / "lib" / f"python{major_minor}" / "site-packages").mkdir()
    # Other scripts (idle, pydoc) still point at the pyenv interpreter.
    for script in (local / "bin").iterdir():
        if script.is_file() and not script.is_symlink():
            text = script.read_bytes()
            if text.startswith(f"#!{python_prefix}/bin/".encode()):
                first_line_end = text.index(b"\n")
                script.write_bytes(f"#!/usr/local/bin/python{major_minor}".encode() + text[first_line_end:])
    _chroot(rootfs, "ldconfig")
    _chroot(rootfs, "/usr/local/bin/python3", "-m", "ensurepip", "--default-pip")


def _trust_host_ca_bundle(rootfs: Path) -> None:
    """Make the image trust what the host trusts: tests only, for installers behind the proxy.

    This machine reaches PyPI through a TLS-intercepting proxy, so pip inside
    a build needs the proxy's CA, which the host's bundle (PIP_CERT) holds.
    The real python:X-slim never needs it, so the fix belongs in this
    stand-in, not in the generated Dockerfile (a BuildKit secret or a build
    argument would need lines in the Dockerfile).  Added the Debian way, as a
    local CA, so the system bundle keeps it even if a build re-runs
    update-ca-certificates.  The image's ENV then points CA_BUNDLE_VARIABLES
    at the system bundle, for the installers that ignore it by default.
    """
    local_cas = rootfs / "usr/local/share/ca-certificates"
    local_cas.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(HOST_CA_BUNDLE, local_cas / "test-host-ca-bundle.crt")
    _chroot(rootfs, "update-ca-certificates")


def _import_rootfs(engine: DockerEngine, rootfs: Path, tag: str, changes: list[str]) -> None:
    change_args = [arg for change in changes for arg in ("--change", change)]
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    try:
        engine.run_docker("import", *change_args, "-", tag, stdin=tar.stdout)
    finally:
        tar.stdout.close()
        if tar.wait() != 0:
            raise RuntimeError(f"tar of {rootfs} exited with {tar.returncode}")


def _chroot(rootfs: Path, *command: str) -> None:
    # A clean environment: the host's PIP_*, PYTHON* settings must not leak in.
    _run("chroot", str(rootfs), *command, env={
        "PATH": "/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
        "PIP_ROOT_USER_ACTION": "ignore",
    })


def _run(*command: str, env: dict | None = None) -> None:
    """Run a host command; on failure, raise with its output (CalledProcessError hides it)."""
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited with {result.returncode}\n"
            f"--- stdout ---\n{result.stdout[-4000:]}\n--- stderr ---\n{result.stderr[-4000:]}"
        )

