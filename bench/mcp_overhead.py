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
import fixtures


def main() -> None:
    args = common.load_args(workers=2, threads=4, count=500, seconds=8, concurrency=[1, 8])
    common.header(f"MCP invoke vs REST invoke (gunicorn {args.workers} workers x {args.threads} threads)")

    token, up_port, upstream = fixtures.invoke_world()
    web_port = common.free_port()
    web = None
    try:
        # No throttling in the way of the series (it is measured in the REST figures).
        web = common.gunicorn(web_port, workers=args.workers, threads=args.threads, CONNECTIONS_INVOKE_RATE="10000000/min")
        host = f"127.0.0.1:{web_port}"
        direct = [common.request_bytes("GET", "/v1/ping", f"127.0.0.1:{up_port}", {"X-Api-Key": "bench-key"})]
        rest = [common.request_bytes(
            "POST", "/api/v1/invoke/", host, {"Authorization": f"Token {token}", "Content-Type": "application/json"},
            json.dumps({"connection": "bench", "url": "/v1/ping"}).encode(),
        )]
        mcp = [common.request_bytes(
            "POST", "/mcp", host,
            {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
             "MCP-Protocol-Version": "2025-06-18"},
            json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                        "params": {"name": "invoke", "arguments": {"connection": "bench", "url": "/v1/ping"}}}).encode(),
        )]

        def upstream_ok(status, payload):
            assert status == 200, payload

        def rest_ok(status, payload):
            assert status == 200 and b'"status_code":200' in payload, payload

        def mcp_ok(status, payload):
            assert status == 200 and b'"isError":false' in payload and b'status_code\\": 200' in payload, payload

        common.run_load("127.0.0.1", web_port, rest, concurrency=8, seconds=2, check=rest_ok)
        common.run_load("127.0.0.1", web_port, mcp, concurrency=8, seconds=2, check=mcp_ok)
        common.run_load("127.0.0.1", up_port, direct, concurrency=8, seconds=1, check=upstream_ok)

        workers = common.children(web.proc.pid)
        for concurrency in args.concurrency:
            kwargs = {"count": args.count} if concurrency == 1 else {"seconds": args.seconds}
            d = common.run_load("127.0.0.1", up_port, direct, concurrency=concurrency, check=upstream_ok, **kwargs)
            print(f"-- concurrency {concurrency}")
            print(f"   direct : p50 {common.ms(d['p50'])}  p99 {common.ms(d['p99'])}  {d['rate']:.0f} req/s")
            for label, requests_, check in (("REST invoke", rest, rest_ok), ("MCP invoke ", mcp, mcp_ok)):
                cpu = common.cpu_seconds(workers)
                r = common.run_load("127.0.0.1", web_port, requests_, concurrency=concurrency, check=check, **kwargs)
                cpu = common.cpu_seconds(workers) - cpu
                print(f"   {label}: p50 {common.ms(r['p50'])}  p99 {common.ms(r['p99'])}  {r['rate']:.0f} req/s  "
                      f"overhead p50 {common.ms(r['p50'] - d['p50'])}  CPU per call {common.ms(cpu / len(r['latencies']))}")
        print(f"load average after: {common.load_average()}")
    finally:
        if web:
            web.stop()
        upstream.stop()


if __name__ == "__main__":
    main()
