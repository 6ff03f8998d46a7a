"""Real processes for integration tests: Celery workers and beat, sharing the test
database with the test process; a polling helper, and one that races calls."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def redis_url() -> str:
    return os.environ.get("TEST_REDIS_URL", "")


def database_url() -> str:
    """The URL of the test database this process uses, for the processes it starts."""
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    user = s.get("USER") or ""
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{s['NAME']}"


class Processes:
    """Start Celery processes against the test database; kill them all at the end."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen] = []

    def env(self, **extra) -> dict:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "settings.test",
            "DATABASE_URL": database_url(),
            "TEST_REDIS_URL": redis_url(),
            **{k: str(v) for k, v in extra.items()},
        }

    def start(self, args: list[str], name: str, ready: str | None, **env) -> subprocess.Popen:
        log = open(self.tmp_path / f"{name}.log", "w+")
        proc = subprocess.Popen(
            [str(ROOT / ".venv/bin/celery"), "-A", "settings", *args], cwd=ROOT, env=self.env(**env),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        proc.log_path = self.tmp_path / f"{name}.log"
        self.procs.append(proc)
        if ready:
            deadline = time.monotonic() + 60
            while ready not in proc.log_path.read_text():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start:\n{proc.log_path.read_text()[-3000:]}")
                time.sleep(0.2)
        return proc

    def worker(self, name: str = "w1", concurrency: int = 2, **env) -> subprocess.Popen:
        return self.start(
            ["worker", "--loglevel", "INFO", "--concurrency", str(concurrency), "-n", f"{name}@%h",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            name, ready="ready.", **env,
        )

    def beat(self, **env) -> subprocess.Popen:
        return self.start(
            ["beat", "--loglevel", "INFO", "--schedule", str(self.tmp_path / "beat-schedule")], "beat",
            ready="beat: Starting", **env,
        )

    @staticmethod
    def kill(proc: subprocess.Popen, sig=signal.SIGKILL, timeout: float = 30) -> None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        proc.wait(timeout=timeout)

    def stop_all(self) -> None:
        """Ask politely (warm shutdown), then insist: teardown must never hang."""
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    self.kill(proc, signal.SIGTERM, timeout=10)
                except subprocess.TimeoutExpired:
                    self.kill(proc, signal.SIGKILL)


def wait_for(predicate, timeout: float = 30, interval: float = 0.2, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message}")


def at_once(calls) -> list:
    """Run each callable in its own thread, all released together by a barrier (to make
    them race); return their results, in the order they finished."""
    barrier = threading.Barrier(len(calls))
    results = []

    def run(call):
        barrier.wait()
        results.append(call())

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
