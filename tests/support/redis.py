"""A throwaway Redis server for tests: Debian's redis-server on a free
loopback port, nothing saved to disk, stopped (and startable again on the
same port) by the test. With `tls=True` it speaks TLS only, with a
self-signed certificate, as Heroku's Key-Value Store does."""

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .network import free_port

STARTUP_TIMEOUT_SECONDS = 10


def redis_server_binary():
    return shutil.which("redis-server")


class RedisServer:
    def __init__(self, binary, tls=False, password="redis-password"):
        self.binary = binary
        self.port = free_port()
        self.password = password
        self.directory = Path(tempfile.mkdtemp(prefix="template-tests-redis-"))
        self.tls = tls
        self.process = None
        if tls:
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=redis.internal",
                 "-keyout", str(self.directory / "redis.key"), "-out", str(self.directory / "redis.crt")],
                check=True, capture_output=True,
            )

    @property
    def url(self):
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://:{self.password}@127.0.0.1:{self.port}/0"

    def start(self):
        ports = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(self.directory / "redis.crt"),
                 "--tls-key-file", str(self.directory / "redis.key"), "--tls-auth-clients", "no"] if self.tls else ["--port", str(self.port)]
        self.process = subprocess.Popen(
            [str(self.binary), "--bind", "127.0.0.1", *ports, "--requirepass", self.password, "--save", "", "--appendonly", "no",
             "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self.accepting():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)

    def accepting(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
        except OSError:
            return False
        return True

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def remove(self):
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
