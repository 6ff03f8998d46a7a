"""Listing connections when there are many: 100,000 in one organisation (and 20,000 in
another) in PostgreSQL, ``GET /api/v1/connections/?page_size=100`` under gunicorn with
production settings: the first page, deep pages (``after=``) and a filtered page.

    .venv/bin/python bench/list_connections.py [--connections 100000] [--requests 300]

Target: p95 under 25 ms.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import timedelta

import common
import fixtures


def make_connections(organisation, count: int, services: list[str], rng: random.Random) -> None:
    from django.utils import timezone

    from connections_app.models import Connection, ConnectionStatus, InvocationLog

    now = timezone.now()
    statuses = [ConnectionStatus.CONNECTED] * 17 + [ConnectionStatus.PENDING, ConnectionStatus.NEEDS_REAUTH, ConnectionStatus.REVOKED]
    for start in range(0, count, 5000):
        rows = []
        for i in range(start, min(count, start + 5000)):
            row = Connection(organisation=organisation, link_name=f"c{i:06d}", name=f"Connection {i}",
                             service_link_name=rng.choice(services), status=rng.choice(statuses), connected_at=now,
                             expires_at=now + timedelta(minutes=rng.randint(20, 600)))
            row.set_credentials({"api_key": f"key-{i:06d}-secret-value"}, hint=f"{i:06d}")
            rows.append(row)
        created = Connection.objects.bulk_create(rows)
        # Three in ten have been used: the list shows when each was last used.
        InvocationLog.objects.bulk_create([
            InvocationLog(organisation=organisation, connection=c, at=now - timedelta(minutes=rng.randint(0, 10000)),
                          method="GET", url="https://api.example/v1/x", status_code=200)
            for c in created if rng.random() < 0.3
        ])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=100000)
    parser.add_argument("--requests", type=int, default=300, help="requests per series")
    args = parser.parse_args()
    common.header(f"list connections ({args.connections} in the organisation)")

    common.recreate_database()
    common.setup_django()
    from django.db import connection

    from services_catalog import registry

    rng = random.Random(8)
    services = sorted(s.link_name for s in registry.catalog().values() if s.auth_type in ("api_key", "basic"))[:40]
    organisation, token = fixtures.admin_token("bench")
    other, _ = fixtures.admin_token("other")
    started = time.perf_counter()
    make_connections(organisation, args.connections, services, rng)
    make_connections(other, args.connections // 5, services, rng)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"{args.connections + args.connections // 5} connections made in {time.perf_counter() - started:.0f} s")

    port = common.free_port()
    web = common.gunicorn(port, workers=4, threads=2)
    try:
        headers = {"Authorization": f"Token {token}"}

        def page(query: str) -> bytes:
            return common.request_bytes("GET", f"/api/v1/connections/?page_size=100{query}", f"127.0.0.1:{port}", headers)

        def full_page(status, body):
            assert status == 200 and body.count(b'"link_name"') >= 100, body[:300]

        deep = [page(f"&after=c{rng.randrange(args.connections // 2, args.connections - 200):06d}") for _ in range(50)]
        series = {
            "first page": [page("")],
            "deep pages (after= in the second half)": deep,
            "status=needs_reauth, first page": [page("&status=needs_reauth")],
            f"service={services[3]}, first page": [page(f"&service={services[3]}")],
        }
        common.run_load("127.0.0.1", port, series["first page"] + deep, concurrency=4, count=200, check=full_page)  # warm up
        for name, requests_ in series.items():
            r = common.run_load("127.0.0.1", port, requests_, concurrency=1, count=args.requests, check=full_page)
            print(f"-- {name}: p50 {common.ms(r['p50'])}  p95 {common.ms(r['p95'])}  p99 {common.ms(r['p99'])}  ({args.requests} requests, one at a time)")
        r = common.run_load("127.0.0.1", port, series["first page"] + deep, concurrency=8, count=args.requests, check=full_page)
        print(f"-- first and deep pages, 8 at once: p50 {common.ms(r['p50'])}  p95 {common.ms(r['p95'])}  {r['rate']:.0f} pages/s")
        print(f"load average after: {common.load_average()}")
    finally:
        web.stop()


if __name__ == "__main__":
    main()
