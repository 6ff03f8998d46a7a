"""Start the product under gunicorn, with the production config file, against the test
database; stop it at the end."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests

from tests.integration.processes import ROOT, database_url, redis_url

# gunicorn's own line once it has bound: with port 0 the kernel picks a free port, so no other
# process (the other test pass, an outbound connection) can take it between a check and the bind.
LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:([0-9]+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, proc: subprocess.Popen, log_path: Path):
        self.proc, self.log_path = proc, log_path
        self.port: int | None = None
        self.url = ""

    def bound(self, port: int) -> None:
        self.port, self.url = port, f"http://127.0.0.1:{port}"

    def log(self) -> str:
        return self.log_path.read_text()


class Gunicorns:
    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.servers: list[Server] = []

    def env(self, name: str, **extra) -> dict:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "settings.test",
            "DATABASE_URL": database_url(),
            "TEST_REDIS_URL": redis_url(),
            "PROMETHEUS_MULTIPROC_DIR": str(self.tmp_path / f"metrics-{name}"),
            "GUNICORN_WORKERS": "1",
            "GUNICORN_THREADS": "8",
            **{k: str(v) for k, v in extra.items()},
        }

    def run(self, name: str, **env) -> subprocess.Popen:
        """Start gunicorn with the production config file; return it without waiting."""
        log = open(self.tmp_path / f"{name}.log", "w+")
        return subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "-c", "settings/gunicorn.conf.py", "settings.wsgi"],
            cwd=ROOT, env=self.env(name, **env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def start(self, name: str, *, wait: bool = True, **env) -> Server:
        """Start a server on a port of the kernel's choosing; return once it listens (its
        ``url`` is known then) or, with ``wait``, once every worker answers /healthz."""
        proc = self.run(name, GUNICORN_BIND="127.0.0.1:0", **env)
        server = Server(proc, self.tmp_path / f"{name}.log")
        server.workers = int(self.env(name, **env)["GUNICORN_WORKERS"])
        self.servers.append(server)
        self._wait(server, lambda: LISTENING.search(server.log()))
        server.bound(int(LISTENING.search(server.log()).group(1)))
        if wait:
            self.wait_ready(server)
        return server

    @classmethod
    def wait_ready(cls, server: Server, timeout: float = 60) -> None:
        cls._wait(server, lambda: server.log().count("Booting worker") >= server.workers and _answers(server.url), timeout)

    @staticmethod
    def _wait(server: Server, ready, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if server.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn {server.url or ''} did not start:\n{server.log()[-3000:]}")
            time.sleep(0.1)

    def stop_all(self) -> None:
        for server in self.servers:
            if server.proc.poll() is None:
                os.killpg(server.proc.pid, signal.SIGTERM)
        for server in self.servers:
            try:
                server.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.proc.pid, signal.SIGKILL)


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code == 200
    except requests.exceptions.ConnectionError:
        return False
