"""Invoke measured with wrk (a load generator in C: a Python client burns the CPU it
measures): the p50 overhead of ``POST /api/v1/invoke/`` over the same request sent
directly to bench/upstream.py, and successful invokes per second at 32 connections.

    .venv/bin/python bench/invoke_wrk.py [--mode production|embedded] [--seconds 10]

production: gunicorn with settings/gunicorn.conf.py, settings.prod, PostgreSQL, Redis
(bench/common.py: its own database, BENCH_REDIS_URL). embedded: the embedded default as
scripts/serve starts its web process (SQLite, no Redis; 2 workers x 4 threads).
Targets (issue 17, two cores): production p50 overhead <= +1.2 ms, >= 1,300 invokes/s.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import common
import fixtures

LUA = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0 end
wrk.method = "%(method)s"
wrk.body = %(body)s
%(headers)s
function response(status, headers, body)
  if status ~= 200 or (%(check)s and not string.find(body, '"status_code":200', 1, true)) then bad = bad + 1 end
end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("bad") end
  io.write(string.format("BAD %%d\\n", total))
end
"""


def lua(path: Path, *, method: str, body: str, headers: dict, check: bool) -> Path:
    lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    path.write_text(LUA % {"method": method, "body": json.dumps(body) if body else "nil", "headers": lines,
                           "check": "true" if check else "false"})
    return path


def wrk(url: str, script: Path, *, connections: int, threads: int, seconds: float) -> dict:
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout
    p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)$", out, re.M)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p50.group(2)]
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = int(re.search(r"^BAD (\d+)$", out, re.M).group(1))
    duration = float(re.search(r"requests in ([\d.]+)s", out).group(1))
    return {"p50_ms": float(p50.group(1)) * scale, "ok_per_s": (total - bad) / duration, "total": total, "bad": bad}


def cpu_by_part(web: common.Proc, upstream: common.Proc) -> dict[str, float]:
    """CPU seconds so far of the web workers, the upstream, Redis and PostgreSQL's backends:
    what a request costs each, which a busy machine does not skew the way it skews time."""
    def pids(pattern: str) -> list[int]:
        found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()
        return [int(p) for p in found]

    parts = {"web": [web.proc.pid, *common.children(web.proc.pid)], "upstream": [upstream.proc.pid],
             "redis": pids("^redis-server"), "postgres": pids("^postgres: .*connections_bench")}
    return {part: common.cpu_seconds(found) for part, found in parts.items()}


def start_web(mode: str, web_port: int, args) -> common.Proc:
    if mode == "production":
        return common.gunicorn(web_port, workers=args.workers, threads=args.threads)
    environ = embedded_env()
    proc = common.Proc(f"embedded-{web_port}", [str(common.ROOT / ".venv/bin/gunicorn"), "settings.wsgi", "--bind",
                                                f"127.0.0.1:{web_port}", "--workers", "2", "--threads", "4"], environ)
    common.wait_http(f"http://127.0.0.1:{web_port}/readyz", proc)
    return proc


def embedded_env() -> dict:
    return common.env(DATABASE_URL=f"sqlite:///{common.RUN_DIR / 'embedded.sqlite3'}", REDIS_URL="")


def prepare(mode: str) -> None:
    if mode == "production":
        common.fresh_start()
        return
    (common.RUN_DIR / "embedded.sqlite3").unlink(missing_ok=True)
    common.RUN_DIR.mkdir(parents=True, exist_ok=True)
    environ = embedded_env()
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=common.ROOT, env=environ, check=True)
    import os

    os.environ.update(environ)
    import django

    django.setup()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("production", "embedded"), default="production")
    parser.add_argument("--workers", type=int, default=None, help="default: settings/gunicorn.conf.py's (two per core)")
    parser.add_argument("--threads", type=int, default=None, help="default: settings/gunicorn.conf.py's (4)")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt install wrk)")
    shape = (f"gunicorn {args.workers or 'default'} workers x {args.threads or 'default'} threads" if args.mode == "production"
             else "scripts/serve's web")
    common.header(f"invoke with wrk, {args.mode} ({shape})")

    prepare(args.mode)
    up_port, web_port = common.free_port(), common.free_port()
    organisation, token = fixtures.admin_token()
    fixtures.api_key_connection(organisation, up_port)
    upstream = common.start_upstream(up_port)
    web = None
    tmp = Path(tempfile.mkdtemp(prefix="wrk-"))
    try:
        web = start_web(args.mode, web_port, args)
        direct = lua(tmp / "direct.lua", method="GET", body="", headers={"X-Api-Key": "bench-key"}, check=False)
        through = lua(tmp / "invoke.lua", method="POST", body=json.dumps({"connection": "bench", "url": "/v1/ping"}),
                      headers={"Authorization": f"Token {token}", "Content-Type": "application/json"}, check=True)
        direct_url, invoke_url = f"http://127.0.0.1:{up_port}/v1/ping", f"http://127.0.0.1:{web_port}/api/v1/invoke/"
        wrk(invoke_url, through, connections=args.connections, threads=2, seconds=3)  # warm: pools, caches
        one_direct = wrk(direct_url, direct, connections=1, threads=1, seconds=args.seconds / 2)
        one_invoke = wrk(invoke_url, through, connections=1, threads=1, seconds=args.seconds / 2)
        before = cpu_by_part(web, upstream)
        many = wrk(invoke_url, through, connections=args.connections, threads=2, seconds=args.seconds)
        spent = {part: seconds - before[part] for part, seconds in cpu_by_part(web, upstream).items()}
        assert one_invoke["bad"] == 0 and many["bad"] == 0, (one_invoke, many)
        print(f"p50 direct {one_direct['p50_ms']:.3f} ms, through invoke {one_invoke['p50_ms']:.3f} ms: "
              f"overhead +{one_invoke['p50_ms'] - one_direct['p50_ms']:.2f} ms (1 connection)")
        print(f"successful invokes/s at {args.connections} connections: {many['ok_per_s']:,.0f} "
              f"({many['total']} requests, {many['bad']} not 200 with an upstream 200)")
        print("CPU per invoke at {} connections: {}".format(args.connections, ", ".join(
            f"{part} {seconds / many['total'] * 1000:.3f} ms" for part, seconds in spent.items())))
        print(f"load average after: {common.load_average()}")
    finally:
        if web is not None:
            web.stop()
        upstream.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
