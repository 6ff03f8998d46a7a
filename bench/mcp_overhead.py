"""What an MCP ``invoke`` tool call adds next to the REST invoke: the same request made
directly to a fast local upstream, through ``POST /api/v1/invoke/``, and through a
``tools/call`` of ``invoke`` at ``POST /mcp`` (the SDK's stateless Streamable HTTP, JSON
answers, one JSON-RPC request per HTTP request as an MCP client sends it once initialised),
under gunicorn with the production settings, at concurrency 1 and 8.

    .venv/bin/python bench/mcp_overhead.py [--workers 2] [--threads 4] [--count 500] [--seconds 8]
"""

from __future__ import annotations

import json

import common
from invoke_overhead import invoke_bench, invoke_ok, upstream_ok


def mcp_ok(status, payload):
    assert status == 200 and b'"isError":false' in payload and b'status_code\\": 200' in payload, payload


def main() -> None:
    args = common.load_args(workers=2, threads=4, count=500, seconds=8, concurrency=[1, 8])
    common.header(f"MCP invoke vs REST invoke (gunicorn {args.workers} workers x {args.threads} threads)")
    # No throttling in the way of the series (it is measured in the REST figures).
    with invoke_bench(args, CONNECTIONS_INVOKE_RATE="10000000/min") as bench:
        mcp = [common.request_bytes(
            "POST", "/mcp", f"127.0.0.1:{bench.web_port}",
            {"Authorization": f"Bearer {bench.token}", "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
             "MCP-Protocol-Version": "2025-06-18"},
            json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                        "params": {"name": "invoke", "arguments": {"connection": "bench", "url": "/v1/ping"}}}).encode(),
        )]
        common.run_load("127.0.0.1", bench.web_port, bench.rest, concurrency=8, seconds=2, check=invoke_ok)
        common.run_load("127.0.0.1", bench.web_port, mcp, concurrency=8, seconds=2, check=mcp_ok)
        common.run_load("127.0.0.1", bench.up_port, bench.direct, concurrency=8, seconds=1, check=upstream_ok)

        workers = common.children(bench.web.proc.pid)
        for concurrency in args.concurrency:
            kwargs = {"count": args.count} if concurrency == 1 else {"seconds": args.seconds}
            d = common.run_load("127.0.0.1", bench.up_port, bench.direct, concurrency=concurrency, check=upstream_ok, **kwargs)
            print(f"-- concurrency {concurrency}")
            print(f"   direct : p50 {common.ms(d['p50'])}  p99 {common.ms(d['p99'])}  {d['rate']:.0f} req/s")
            for label, requests_, check in (("REST invoke", bench.rest, invoke_ok), ("MCP invoke ", mcp, mcp_ok)):
                cpu = common.cpu_seconds(workers)
                r = common.run_load("127.0.0.1", bench.web_port, requests_, concurrency=concurrency, check=check, **kwargs)
                cpu = common.cpu_seconds(workers) - cpu
                print(f"   {label}: p50 {common.ms(r['p50'])}  p99 {common.ms(r['p99'])}  {r['rate']:.0f} req/s  "
                      f"overhead p50 {common.ms(r['p50'] - d['p50'])}  CPU per call {common.ms(cpu / len(r['latencies']))}")


if __name__ == "__main__":
    main()
