"""Where the time of an invoke and of a connection-list page goes: each part timed alone,
in one process, against PostgreSQL and Redis with production settings. For finding hot
spots; the end-to-end figures come from invoke_overhead.py and list_connections.py.

    .venv/bin/python bench/parts.py [--repeat 200]
"""

from __future__ import annotations

import argparse
import threading
import time

import common
import fixtures


def timed(label: str, fn, repeat: int) -> None:
    fn()
    started = time.perf_counter()
    for _ in range(repeat):
        fn()
    print(f"   {label:58s} {(time.perf_counter() - started) / repeat * 1000:7.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    n = args.repeat
    common.header("parts of invoke and list")
    common.fresh_start()
    import requests
    import yaml
    from django.core.cache import cache
    from django.db import connection
    from django.utils import timezone
    from rest_framework.renderers import JSONRenderer

    from connections_app import http, invocation_logs, rate_limit, selectors
    from connections_app.api import serializers
    from connections_app.api.authentication import token_membership
    from connections_app.models import ApiToken, InvocationLog, sha256_hex
    port = common.free_port()
    organisation, token = fixtures.admin_token()
    for i in range(150):
        fixtures.api_key_connection(organisation, port, link_name=f"c{i:04d}")
    upstream = common.start_upstream(port)
    try:
        conn = selectors.connection_get(organisation=organisation, link_name="c0001", annotate=False)
        print("-- invoke, part by part")
        timed("API token lookup (authentication.token_membership: fixed SQL)", lambda: token_membership(sha256_hex(token)), n)
        timed("  the same through the ORM (select_related, 3 joins)", lambda: ApiToken.objects.select_related(
            "membership__organisation", "membership__user").filter(key_hash=sha256_hex(token)).first(), n)
        timed("connection_get (selectors.py: fixed SQL, custom service joined)", lambda: selectors.connection_get(
            organisation=organisation, link_name="c0001", annotate=False), n)
        row = lambda: InvocationLog(organisation_id=organisation.pk, connection_id=conn.pk, at=timezone.now(), method="GET",  # noqa: E731
                                    url="http://x/y", status_code=200, elapsed_ms=1, error="", actor="a")
        timed("invocation log: handed to the batch writer", lambda: invocation_logs.writer.add(row()), n)
        timed("  one insert per call (CONNECTIONS_INVOCATION_LOG_FLUSH_SECONDS=0)", lambda: row().save(force_insert=True), n)
        rows_100 = [row() for _ in range(100)]
        timed("  the writer's flush of 100 rows (one INSERT), all 100", lambda: InvocationLog.objects.bulk_create(
            [InvocationLog(**{f.attname: getattr(r, f.attname) for f in InvocationLog._meta.concrete_fields if f.attname != "id"})
             for r in rows_100]), max(1, n // 100))
        timed("throttle (rate_limit.hit: one pipelined Redis round trip)", lambda: rate_limit.hit("bench:throttle", 60), n)
        timed("  the cache API's add + incr", lambda: (cache.add("t1", 0, 61), cache.incr("t1")), n)
        timed("decrypt the credentials (crypto)", lambda: conn.credentials, n)
        request = http.OutboundRequest(method="GET", url=f"http://127.0.0.1:{port}/v1/ping", headers={"X-Api-Key": "bench-key"})
        timed("http.send to the local upstream", lambda: http.send(request, allowed_hosts=[f"http://127.0.0.1:{port}"], auth=None, timeout=30.0), n)
        session = requests.Session()
        timed("  plain requests.Session.get, for comparison", lambda: session.get(f"http://127.0.0.1:{port}/v1/ping",
                                                                                 headers={"X-Api-Key": "bench-key"}), n)
        timed("  the deadline watchdog (one thread per process)", lambda: http._Watchdog(30).__enter__().__exit__(), n)
        timed("  a threading.Timer per call, for comparison", lambda: (lambda t: (t.start(), t.cancel()))(
            threading.Timer(30, lambda: None)), n)
        timed("database health check (conn_health_checks=True)", connection.is_usable, n)
        timed("SELECT 1 round trip", lambda: connection.cursor().execute("SELECT 1"), n)

        print("-- one page of the connection list (101 rows)")
        page = selectors.connection_list(organisation=organisation).order_by("link_name")
        timed("model instances (as the web list reads them)", lambda: list(page.all()[:101]), n // 10)
        values = selectors.connection_list_values(organisation=organisation).order_by("link_name")
        timed("values (as the API list reads them)", lambda: list(values.all()[:101]), n // 10)
        rows = selectors.with_custom_services(selectors.listed(list(values.all()[:101])))
        data = serializers.ConnectionOutSerializer(rows, many=True, context={"with_snippets": False}).data
        timed("serializer (ConnectionOutSerializer, many)", lambda: serializers.ConnectionOutSerializer(
            rows, many=True, context={"with_snippets": False}).data, n // 10)
        timed("JSON rendering", lambda: JSONRenderer().render({"results": data}), n // 10)

        print("-- catalog")
        texts = [p.read_text() for p in sorted((common.ROOT / "services_catalog/providers").glob("*.yaml"))]
        timed(f"parse {len(texts)} files, yaml.safe_load (pure Python)", lambda: [yaml.safe_load(t) for t in texts], 3)
        if getattr(yaml, "CSafeLoader", None):
            timed(f"parse {len(texts)} files, yaml.CSafeLoader (libyaml: registry)", lambda: [yaml.load(t, Loader=yaml.CSafeLoader) for t in texts], 3)
        print(f"load average after: {common.load_average()}")
    finally:
        upstream.stop()


if __name__ == "__main__":
    main()
