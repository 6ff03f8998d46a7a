"""CPU per outbound call, one process: the product's client (``connections_app.http.send``:
requests' preparation and adapter over the guarded urllib3 pool) next to a bare urllib3 pool
and a bare ``http.client`` connection, each a keep-alive GET of the fast local upstream's
``/v1/ping``. It says how much of an invoke's CPU a leaner outbound client could save.

    .venv/bin/python bench/outbound_clients.py [--count 2000]
"""

from __future__ import annotations

import argparse
import http.client
import time

import common
import fixtures


def cpu_per_call(fn, count: int) -> float:
    for _ in range(200):  # warm: pools, connections
        fn()
    start = time.process_time()
    for _ in range(count):
        fn()
    return (time.process_time() - start) / count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    common.header("outbound clients (CPU per call)")
    _token, port, upstream = fixtures.invoke_world()
    try:
        import urllib3

        from connections_app import http as outbound

        headers = {"X-Api-Key": "bench-key"}
        request = outbound.OutboundRequest(method="GET", url=f"http://127.0.0.1:{port}/v1/ping", headers=headers)
        allowed = [f"http://127.0.0.1:{port}"]

        def product():
            assert outbound.send(request, allowed_hosts=allowed, auth=None, timeout=10).status_code == 200

        pool = urllib3.HTTPConnectionPool("127.0.0.1", port, maxsize=1)

        def bare_urllib3():
            assert pool.request("GET", "/v1/ping", headers=headers).status == 200

        connection = http.client.HTTPConnection("127.0.0.1", port)

        def bare_http_client():
            connection.request("GET", "/v1/ping", headers=headers)
            answer = connection.getresponse()
            answer.read()
            assert answer.status == 200

        for _round in range(2):  # alternate, so a change in the machine's load shows
            for label, fn in (("connections_app.http.send", product), ("urllib3 pool", bare_urllib3),
                              ("http.client", bare_http_client)):
                print(f"   {label:30s} {common.ms(cpu_per_call(fn, args.count))} of CPU per call")
        print(f"load average after: {common.load_average()}")
    finally:
        upstream.stop()


if __name__ == "__main__":
    main()
