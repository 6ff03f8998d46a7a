"""10,000 OAuth 2.0 connections due at once: how long until two Celery workers (Redis
broker, PostgreSQL) have refreshed them all, whether each was refreshed exactly once, and
whether invokes made meanwhile ever sent an expired token.

    .venv/bin/python bench/refresh_sweep.py [--connections 10000] [--expires-in 300] [--sweep-every 60]

The sweep is ``tasks.refresh_due`` enqueued every ``--sweep-every`` seconds from here, as
beat does with CONNECTIONS_REFRESH_SWEEP_SECONDS (60 by default). The token endpoint and
the API are bench/upstream.py: it counts grants, rejects a reused refresh token (a double
refresh would show there) and counts expired access tokens presented to it.
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
import urllib.request
from datetime import timedelta

import common
import fixtures


def make_connections(organisation, count: int, expires_in: int) -> None:
    from django.utils import timezone

    from connections_app.models import Connection, ConnectionStatus, CustomService

    service = CustomService.objects.get(organisation=organisation, link_name="bench_oauth")
    now = timezone.now()
    expires_at = now + timedelta(seconds=expires_in)
    rows = []
    for i in range(count):
        row = Connection(organisation=organisation, link_name=f"c{i:05d}", name=f"C {i}", service_link_name="bench_oauth",
                         custom_service=service, status=ConnectionStatus.CONNECTED, connected_at=now, expires_at=expires_at)
        row.set_credentials({"access_token": f"at.{i}.0.{expires_at.timestamp():.0f}", "token_type": "Bearer",
                             "refresh_token": f"rt.{i}.0"})
        rows.append(row)
    Connection.objects.bulk_create(rows, batch_size=1000)


def stats(port: int) -> dict:
    return json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/_stats", timeout=10).read())


class InvokeLoop(threading.Thread):
    """Invoke random connections until stopped; count answers that were not a 200 envelope."""

    def __init__(self, web_port: int, token: str, count: int, threads: int = 2):
        super().__init__(daemon=True)
        self.web_port, self.token, self.count, self.threads = web_port, token, count, threads
        self.stop = threading.Event()
        self.done, self.failed = 0, []

    def run(self) -> None:
        workers = [threading.Thread(target=self._loop, daemon=True) for _ in range(self.threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

    def _loop(self) -> None:
        import requests

        session = requests.Session()
        rng = random.Random()
        while not self.stop.is_set():
            link = f"c{rng.randrange(self.count):05d}"
            response = session.post(f"http://127.0.0.1:{self.web_port}/api/v1/invoke/", json={"connection": link, "url": "/api/me"},
                                    headers={"Authorization": f"Token {self.token}"}, timeout=60)
            self.done += 1
            if response.status_code != 200 or response.json().get("status_code") != 200:
                self.failed.append((link, response.status_code, response.text[:200]))
            time.sleep(0.05)  # a steady trickle, not a load test


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--expires-in", type=int, default=300, help="seconds until every token expires (all inside the 600 s window)")
    parser.add_argument("--sweep-every", type=float, default=60)
    parser.add_argument("--concurrency", type=int, default=2, help="processes per Celery worker")
    args = parser.parse_args()
    common.header(f"refresh sweep ({args.connections} connections, 2 workers x {args.concurrency})")

    common.fresh_start()
    up_port, web_port = common.free_port(), common.free_port()
    organisation, token = fixtures.admin_token()
    fixtures.oauth2_service(organisation, "bench_oauth", f"http://127.0.0.1:{up_port}")
    started = time.perf_counter()
    make_connections(organisation, args.connections, args.expires_in)
    print(f"{args.connections} connections made in {time.perf_counter() - started:.1f} s")

    from django.db.models import Count, Max

    from connections_app.models import Connection
    from connections_app.tasks import refresh_due

    procs = [common.start_upstream(up_port, "--expires-in", "3600")]
    loop = None
    try:
        procs.append(common.gunicorn(web_port, workers=2, threads=2))
        procs += [common.celery_worker(f"sweep{n}", concurrency=args.concurrency) for n in (1, 2)]
        time.sleep(8)  # let both workers connect to the broker before the first sweep
        loop = InvokeLoop(web_port, token, args.connections)
        loop.start()

        t0 = time.time()
        next_sweep = time.monotonic()
        remaining = args.connections
        while remaining:
            if time.monotonic() >= next_sweep:
                refresh_due.delay()
                next_sweep += args.sweep_every
            time.sleep(1)
            remaining = Connection.objects.filter(last_refreshed_at__isnull=True).count()
            if time.time() - t0 > 1800:
                raise SystemExit(f"gave up after 30 minutes with {remaining} not refreshed")
        last = Connection.objects.aggregate(last=Max("last_refreshed_at"))["last"].timestamp()
        loop.stop.set()
        loop.join()
        time.sleep(5)  # any duplicate still in flight would reach the endpoint now
        counts = stats(up_port)
        statuses = dict(Connection.objects.order_by().values_list("status").annotate(n=Count("pk")))
        print(f"all {args.connections} refreshed {last - t0:.1f} s after the first sweep "
              f"({args.connections / (last - t0):.0f} refreshes/s)")
        print(f"refresh grants at the token endpoint: {counts.get('refresh_token', 0)} "
              f"(reused refresh tokens: {counts.get('reused', 0)})")
        print(f"invokes meanwhile: {loop.done}, failed: {len(loop.failed)}, "
              f"expired tokens presented upstream: {counts.get('expired_seen', 0)}")
        print(f"connections by status: {statuses}; load average after: {common.load_average()}")
        for failure in loop.failed[:5]:
            print("   failed:", failure)
    finally:
        if loop:
            loop.stop.set()
        for proc in reversed(procs):
            proc.stop()


if __name__ == "__main__":
    main()
