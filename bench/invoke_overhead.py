"""What invoke adds to a call: the same request made directly to a fast local upstream and
through ``POST /api/v1/invoke/`` (production settings under gunicorn, PostgreSQL, Redis
for the throttle), at concurrency 1 and 32.

    .venv/bin/python bench/invoke_overhead.py [--workers 4] [--threads 2] [--count 2000] [--seconds 15]

Targets: p50 overhead under 2 ms at concurrency 1; 800 invokes/s or more at concurrency 32.
"""

from __future__ import annotations

import contextlib
import json
from typing import NamedTuple

import common
import fixtures


class InvokeBench(NamedTuple):
    token: str
    up_port: int
    web_port: int
    web: common.Proc
    direct: list[bytes]  # the call made straight to the upstream
    rest: list[bytes]  # the same call through POST /api/v1/invoke/


@contextlib.contextmanager
def invoke_bench(args, **env):
    """What the invoke benches measure (this one and mcp_overhead.py): the bench connection
    on a fast local upstream, gunicorn with the production settings, and the two requests."""
    token, up_port, upstream = fixtures.invoke_world()
    web_port = common.free_port()
    web = None
    try:
        web = common.gunicorn(web_port, workers=args.workers, threads=args.threads, **env)
        direct = [common.request_bytes("GET", "/v1/ping", f"127.0.0.1:{up_port}", {"X-Api-Key": "bench-key"})]
        rest = [common.request_bytes(
            "POST", "/api/v1/invoke/", f"127.0.0.1:{web_port}", {"Authorization": f"Token {token}", "Content-Type": "application/json"},
            json.dumps({"connection": "bench", "url": "/v1/ping"}).encode(),
        )]
        yield InvokeBench(token, up_port, web_port, web, direct, rest)
        print(f"load average after: {common.load_average()}")
    finally:
        if web:
            web.stop()
        upstream.stop()


def upstream_ok(status, payload):
    assert status == 200, payload


def invoke_ok(status, payload):
    assert status == 200 and b'"status_code":200' in payload, payload


def main() -> None:
    args = common.load_args(workers=4, threads=2, count=2000, seconds=15, concurrency=[1, 32])
    common.header(f"invoke overhead (gunicorn {args.workers} workers x {args.threads} threads)")
    with invoke_bench(args) as bench:
        # Warm up: connections, caches, the upstream pool of every gunicorn thread.
        common.run_load("127.0.0.1", bench.web_port, bench.rest, concurrency=32, seconds=3, check=invoke_ok)
        common.run_load("127.0.0.1", bench.up_port, bench.direct, concurrency=32, seconds=1, check=upstream_ok)

        workers = common.children(bench.web.proc.pid)
        for concurrency in args.concurrency:
            kwargs = {"count": args.count} if concurrency == 1 else {"seconds": args.seconds}
            d = common.run_load("127.0.0.1", bench.up_port, bench.direct, concurrency=concurrency, check=upstream_ok, **kwargs)
            cpu_web, cpu_all = common.cpu_seconds(workers), common.machine_cpu_seconds()
            i = common.run_load("127.0.0.1", bench.web_port, bench.rest, concurrency=concurrency, check=invoke_ok, **kwargs)
            n = len(i["latencies"])
            cpu_web, cpu_all = common.cpu_seconds(workers) - cpu_web, common.machine_cpu_seconds() - cpu_all
            print(f"-- concurrency {concurrency} ({len(d['latencies'])} direct, {n} invokes)")
            print(f"   direct : p50 {common.ms(d['p50'])}  p99 {common.ms(d['p99'])}  {d['rate']:.0f} req/s")
            print(f"   invoke : p50 {common.ms(i['p50'])}  p99 {common.ms(i['p99'])}  {i['rate']:.0f} req/s")
            print(f"   overhead: p50 {common.ms(i['p50'] - d['p50'])}  p99 {common.ms(i['p99'] - d['p99'])}")
            print(f"   CPU per invoke: gunicorn workers {common.ms(cpu_web / n)}, whole machine {common.ms(cpu_all / n)}")


if __name__ == "__main__":
    main()
