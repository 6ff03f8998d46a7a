"""CPU per request of invoke inside one process: the WSGI handler called directly (no
gunicorn, no client sockets), against PostgreSQL, Redis and the fast local upstream, with
production settings. Next to it, two floors: ``/healthz`` (answered by the second
middleware) and an authenticated DRF ``GET /api/v1/webhook/`` (token lookup, a small JSON
answer). With ``--memoised-lookups`` the token and connection lookups are served from a
dict after the first call: an experiment showing what a perfect cache of them would save.

    .venv/bin/python bench/invoke_in_process.py [--count 3000] [--memoised-lookups]

Each line also gives the Python function calls per request (counted by cProfile over 300
more requests): unlike CPU time, that count does not move with the machine or its load, so
it compares two trees measured on different days.
"""

from __future__ import annotations

import argparse
import cProfile
import copy
import pstats
import io
import json
import sys
import time

import common
import fixtures


def wsgi_call(app, method: str, path: str, token: str | None = None, body: bytes = b"") -> tuple[str, bytes]:
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000",
        "HTTP_HOST": "127.0.0.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
        "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
    }
    if token:
        environ["HTTP_AUTHORIZATION"] = f"Token {token}"
    status = []
    content = b"".join(app(environ, lambda s, h, exc_info=None: status.append(s)))
    return status[0], content


def cpu_per_call(fn, count: int) -> float:
    for _ in range(min(300, count)):
        fn()
    started = time.process_time()
    for _ in range(count):
        fn()
    return (time.process_time() - started) / count


def calls_per_call(fn, count: int = 300) -> float:
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(count):
        fn()
    profile.disable()
    return pstats.Stats(profile).total_calls / count


def memoise_lookups() -> None:
    """Serve the token and connection lookups from a dict after their first call."""
    from django.utils import timezone

    from connections_app import selectors
    from connections_app.api import authentication

    real_token, real_get = authentication.token_membership, selectors.connection_get
    memo: dict = {}

    def token_membership(key_hash):
        if key_hash not in memo:
            found = real_token(key_hash)
            found[0].last_used_at = timezone.now()  # else the 5-minute stamp is written every call
            memo[key_hash] = found
        return memo[key_hash]

    def connection_get(*, organisation, link_name, annotate=True):
        if annotate:
            return real_get(organisation=organisation, link_name=link_name, annotate=True)
        key = (organisation.pk, link_name)
        if key not in memo:
            memo[key] = real_get(organisation=organisation, link_name=link_name, annotate=False)
        return copy.copy(memo[key])

    authentication.token_membership = token_membership
    selectors.connection_get = connection_get


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--memoised-lookups", action="store_true")
    args = parser.parse_args()
    common.header("invoke in one process (CPU per request)")
    token, up_port, upstream = fixtures.invoke_world()
    try:
        from django.core.wsgi import get_wsgi_application

        app = get_wsgi_application()
        if args.memoised_lookups:
            memoise_lookups()
        body = json.dumps({"connection": "bench", "url": "/v1/ping"}).encode()

        def invoke():
            status, content = wsgi_call(app, "POST", "/api/v1/invoke/", token, body)
            assert status.startswith("200") and b'"status_code":200' in content, content[:300]

        def healthz():
            assert wsgi_call(app, "GET", "/healthz")[0].startswith("200")

        def drf_get():
            assert wsgi_call(app, "GET", "/api/v1/webhook/", token)[0].startswith("200")

        for label, fn in (("/healthz", healthz), ("DRF GET /api/v1/webhook/ (token auth)", drf_get),
                          ("POST /api/v1/invoke/" + (" (lookups memoised)" if args.memoised_lookups else ""), invoke)):
            cpu = cpu_per_call(fn, args.count)
            print(f"   {label:52s} {common.ms(cpu)} of CPU per request, {calls_per_call(fn):,.0f} function calls")
        print(f"load average after: {common.load_average()}")
    finally:
        upstream.stop()


if __name__ == "__main__":
    main()
