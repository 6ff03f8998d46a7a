"""Shared by the benchmarks: a PostgreSQL database of their own, production settings from
the environment, gunicorn and Celery processes, a raw HTTP load generator, figures.

Benchmarks print figures; they are not tests. Each starts what it needs on loopback and
stops it at the end. They use their own database (``connections_bench``) and Redis
database (13), so they never touch the test suite's.
"""

from __future__ import annotations

import asyncio
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
DB_NAME = os.environ.get("BENCH_DB", "connections_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
# Fixed throwaway secrets: the bench database is made and dropped by the benchmarks.
FERNET_KEY = "YmVuY2htYXJrLW9ubHktZmVybmV0LWtleS0wMDAwMDA="
RUN_DIR = ROOT / "var" / "bench"


def env(**extra) -> dict:
    """Production settings (settings.prod) with what a loopback benchmark needs."""
    return {
        **{k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL")},
        "DJANGO_SETTINGS_MODULE": "settings.prod",
        "DJANGO_SECRET_KEY": "bench-only-secret-key-" + "x" * 40,
        "CONNECTIONS_ENCRYPTION_KEYS": FERNET_KEY,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": f"{PG}/{DB_NAME}",
        "REDIS_URL": REDIS_URL,
        "CONNECTIONS_ALLOW_PRIVATE_NETWORKS": "1",  # the upstream is on loopback
        "CONNECTIONS_INVOKE_RATE": "100000000/min",  # measure invoke, not the throttle
        "CONNECTIONS_VAR_DIR": str(RUN_DIR),
        **{k: str(v) for k, v in extra.items()},
    }


def setup_django(**extra) -> None:
    """Load production settings in this process (to create rows with the ORM)."""
    os.environ.update(env(**extra))
    import django

    django.setup()


def recreate_database() -> None:
    """Drop and create the bench database, then migrate it."""
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env(), check=True)


def flush_redis() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


def fresh_start() -> None:
    """A new bench database and Redis database, and Django loaded in this process."""
    recreate_database()
    flush_redis()
    setup_django()


def start_upstream(port: int, *args: str) -> "Proc":
    """bench/upstream.py on ``port``, answering."""
    proc = Proc("upstream", [sys.executable, "bench/upstream.py", str(port), *args], env())
    try:
        wait_http(f"http://127.0.0.1:{port}/_stats", proc)
    except BaseException:
        proc.stop()
        raise
    return proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A child process in its own session, logging to var/bench/<name>.log."""

    def __init__(self, name: str, args: list[str], environ: dict):
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = RUN_DIR / f"{name}.log"
        self.proc = subprocess.Popen(args, cwd=ROOT, env=environ, stdout=open(self.log_path, "w"),
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def gunicorn(port: int, *, workers: int | None, threads: int | None, **extra) -> Proc:
    """gunicorn with settings/gunicorn.conf.py; a shape left None is the configuration's own
    default (workers: two per core, threads: 4)."""
    metrics_dir = RUN_DIR / f"metrics-{port}"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    shape = {name: value for name, value in (("GUNICORN_WORKERS", workers), ("GUNICORN_THREADS", threads)) if value is not None}
    environ = env(GUNICORN_BIND=f"127.0.0.1:{port}", PROMETHEUS_MULTIPROC_DIR=metrics_dir, **shape, **extra)
    for name in ("GUNICORN_WORKERS", "GUNICORN_THREADS"):
        if name not in shape:
            environ.pop(name, None)  # not inherited from the caller's environment either
    proc = Proc(f"gunicorn-{port}", [str(ROOT / ".venv/bin/gunicorn"), "-c", "settings/gunicorn.conf.py", "settings.wsgi"],
                environ)
    wait_http(f"http://127.0.0.1:{port}/readyz", proc)
    return proc


def celery_worker(name: str, *, concurrency: int, **extra) -> Proc:
    proc = Proc(name, [str(ROOT / ".venv/bin/celery"), "-A", "settings", "worker", "--loglevel", "WARNING", "-n", f"{name}@%h",
                       "--concurrency", str(concurrency), "--without-gossip", "--without-mingle", "--without-heartbeat"],
                env(**extra))
    return proc


def wait_http(url: str, proc: Proc, timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            raise RuntimeError(f"{proc.log_path.name} exited:\n{proc.log_path.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


# -- figures -----------------------------------------------------------------------------
def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    mem = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))) // 1024 // 1024
    return f"{os.cpu_count()} cores ({model}), {mem} GiB, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in found]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> float:
    """Busy CPU time of the whole machine so far (every process, ours or not)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:3]) + sum(fields[5:8])) / os.sysconf("SC_CLK_TCK")


def load_args(*, workers: int, threads: int, count: int, seconds: float, concurrency: list[int]):
    """The command line of the gunicorn load benches, with each bench's defaults."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=workers)
    parser.add_argument("--threads", type=int, default=threads)
    parser.add_argument("--count", type=int, default=count, help="requests per series at concurrency 1")
    parser.add_argument("--seconds", type=float, default=seconds, help="length of each series at higher concurrency")
    parser.add_argument("--concurrency", type=int, nargs="+", default=concurrency)
    return parser.parse_args()


def header(title: str) -> None:
    print(f"== {title}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M %Z')}; machine: {machine()}")
    print(f"load average before: {load_average()}")


# -- a raw HTTP/1.1 load generator -------------------------------------------------------
# asyncio over keep-alive sockets: a few tens of microseconds per request, so the client
# takes little of the two cores the server under test needs.
def request_bytes(method: str, path: str, host: str, headers: dict | None = None, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length, chunked = None, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return status, body
            body += chunk[:-2]
    return status, await reader.readexactly(length or 0)


async def _client(host, port, requests_, latencies, statuses, stop_at, count, check):
    reader, writer = await asyncio.open_connection(host, port)
    i = 0
    try:
        while (count is None or i < count) and (stop_at is None or time.perf_counter() < stop_at):
            payload = requests_[i % len(requests_)]
            started = time.perf_counter()
            writer.write(payload)
            status, body = await _read_response(reader)
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
            if check is not None:
                check(status, body)
            i += 1
    finally:
        writer.close()


def run_load(host: str, port: int, requests_: list[bytes], *, concurrency: int, count: int | None = None,
             seconds: float | None = None, check=None) -> dict:
    """Send requests over ``concurrency`` keep-alive connections; return latencies and rate."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def main():
        stop_at = time.perf_counter() + seconds if seconds else None
        per_client = None if count is None else count // concurrency
        await asyncio.gather(*(_client(host, port, requests_, latencies, statuses, stop_at, per_client, check)
                               for _ in range(concurrency)))

    started = time.perf_counter()
    asyncio.run(main())
    elapsed = time.perf_counter() - started
    return {"latencies": latencies, "statuses": statuses, "elapsed": elapsed, "rate": len(latencies) / elapsed,
            "p50": pct(latencies, 50), "p95": pct(latencies, 95), "p99": pct(latencies, 99),
            "mean": statistics.fmean(latencies)}
