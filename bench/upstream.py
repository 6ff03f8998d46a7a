"""A fast local upstream for the benchmarks: raw HTTP/1.1 on asyncio, keep-alive.

    python bench/upstream.py PORT [--expires-in SECONDS]

- ``/v1/ping``: 200 ``{"ok":true}`` when ``X-Api-Key: bench-key`` is sent, else 401;
- ``/oauth/token``: the refresh grant. Refresh tokens are ``rt.<id>.<generation>`` and
  rotate: a used one answers ``invalid_grant`` (counted as ``reused``: a double refresh);
- ``/api/me``: 200 for a bearer token ``at.<id>.<generation>.<expiry epoch>`` that has not
  expired, else 401 (counted as ``expired_seen``);
- ``/_stats``: the counters as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from urllib.parse import parse_qs

OK = b'{"ok":true}'
counts: Counter = Counter()
generations: dict[str, int] = {}
EXPIRES_IN = 3600


def respond(status: int, body: bytes, content_type: bytes = b"application/json") -> bytes:
    reason = {200: b"OK", 400: b"Bad Request", 401: b"Unauthorized", 404: b"Not Found"}[status]
    return (b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: keep-alive\r\n\r\n"
            % (status, reason, content_type, len(body)) + body)


def handle(method: bytes, path: bytes, headers: dict[bytes, bytes], body: bytes) -> bytes:
    if path.startswith(b"/v1/ping"):
        counts["ping"] += 1
        return respond(200, OK) if headers.get(b"x-api-key") == b"bench-key" else respond(401, b"{}")
    if path == b"/oauth/token":
        return token(parse_qs(body.decode()))
    if path == b"/api/me":
        auth = headers.get(b"authorization", b"").decode()
        parts = auth.removeprefix("Bearer ").split(".")
        if len(parts) == 4 and parts[0] == "at" and float(parts[3]) > time.time():
            counts["resource_ok"] += 1
            return respond(200, OK)
        counts["expired_seen"] += 1
        return respond(401, b'{"error":"invalid_token"}')
    if path == b"/_stats":
        return respond(200, json.dumps(counts).encode())
    return respond(404, b"{}")


def token(form: dict) -> bytes:
    counts["token_requests"] += 1
    refresh = (form.get("refresh_token") or [""])[0]
    try:
        _rt, ident, gen = refresh.split(".")
    except ValueError:
        return respond(400, b'{"error":"invalid_request"}')
    if int(gen) != generations.get(ident, 0):
        counts["reused"] += 1
        return respond(400, b'{"error":"invalid_grant"}')
    new = int(gen) + 1
    generations[ident] = new
    counts["refresh_token"] += 1
    expiry = time.time() + EXPIRES_IN
    return respond(200, json.dumps({"access_token": f"at.{ident}.{new}.{expiry:.0f}", "token_type": "Bearer",
                                    "expires_in": EXPIRES_IN, "refresh_token": f"rt.{ident}.{new}"}).encode())


async def serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            method, path, _ = lines[0].split(b" ", 2)
            headers = {}
            for line in lines[1:]:
                if line:
                    name, _, value = line.partition(b":")
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
            writer.write(handle(method, path, headers, body))
            if headers.get(b"connection", b"").lower() == b"close":
                break
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(serve_connection, "127.0.0.1", port, backlog=1024)
    print(f"listening on {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if "--expires-in" in sys.argv:
        EXPIRES_IN = int(sys.argv[sys.argv.index("--expires-in") + 1])
    asyncio.run(main(int(sys.argv[1])))
