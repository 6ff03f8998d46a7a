"""Start the product under gunicorn, with the production config file, against the test
database; stop it at the end."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests

from tests.integration.processes import ROOT, database_url, redis_url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, proc: subprocess.Popen, port: int, log_path: Path):
        self.proc, self.port, self.log_path = proc, port, log_path
        self.url = f"http://127.0.0.1:{port}"

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
        """Start a server; with ``wait``, return once every worker answers /healthz."""
        port = free_port()
        proc = self.run(name, GUNICORN_BIND=f"127.0.0.1:{port}", **env)
        server = Server(proc, port, self.tmp_path / f"{name}.log")
        server.workers = int(self.env(name, **env)["GUNICORN_WORKERS"])
        self.servers.append(server)
        if wait:
            self.wait_ready(server)
        return server

    @staticmethod
    def wait_ready(server: Server, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while server.log().count("Booting worker") < server.workers or not _answers(server.url):
            if server.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn on port {server.port} did not start:\n{server.log()[-3000:]}")
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
