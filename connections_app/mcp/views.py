"""``/mcp``: the MCP server's Streamable HTTP endpoint, behind the same door as the pages.

Requests reach it through Django (host checks, request ids, access logs and metrics as
for any page), are authenticated here with an API token (``Authorization: Bearer``, the
REST API's own check), and are handed to the SDK's ASGI app through a2wsgi, which runs
it on one event loop per process. The SDK runs stateless and answers JSON (no session,
no open stream between calls), so a call is one short request like a REST one: any
worker of any replica can answer it, and the WSGI server needs nothing special.
"""

from __future__ import annotations

import asyncio
import io
import threading

from a2wsgi import ASGIMiddleware
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from mcp.server.transport_security import TransportSecuritySettings
from rest_framework.exceptions import AuthenticationFailed

from ..api.authentication import membership_for_key
from ..api.errors import error_body
from .server import ENVIRON_KEY, build_server

# Per connection, not end to end: the WSGI server and Django own these.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade"})


class Bridge:
    """The SDK's session manager running on a background event loop, as a WSGI app."""

    def __init__(self) -> None:
        server = build_server()
        # Host and origin checks are Django's (ALLOWED_HOSTS); the path is ours (urls.py).
        server.streamable_http_app(
            stateless_http=True, json_response=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        self.manager = server.session_manager
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="mcp-loop", daemon=True).start()
        started = threading.Event()
        asyncio.run_coroutine_threadsafe(self._serve(started), self.loop)
        if not started.wait(10):
            raise RuntimeError("The MCP session manager did not start.")
        self.wsgi = ASGIMiddleware(self.manager.handle_request, loop=self.loop)

    async def _serve(self, started: threading.Event) -> None:
        async with self.manager.run():  # the task group stateless requests run in
            started.set()
            await asyncio.Event().wait()  # for the life of the process


_bridge: Bridge | None = None
_bridge_lock = threading.Lock()


def bridge() -> Bridge:
    """This process's bridge, made on first use (after gunicorn forks its workers)."""
    global _bridge  # noqa: PLW0603
    if _bridge is None:
        with _bridge_lock:
            if _bridge is None:
                _bridge = Bridge()
    return _bridge


def _unauthenticated(message: str) -> JsonResponse:
    response = JsonResponse(error_body("not_authenticated", message), status=401)
    response["WWW-Authenticate"] = 'Bearer realm="connections"'
    return response


@csrf_exempt
def mcp_endpoint(request):
    keyword, _, key = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if keyword.lower() not in ("bearer", "token"):
        return _unauthenticated("Send an API token: Authorization: Bearer <token>.")
    try:
        membership = membership_for_key(key)
    except AuthenticationFailed as exc:
        return _unauthenticated(str(exc.detail))
    environ = {**request.environ, "wsgi.input": io.BytesIO(request.body), ENVIRON_KEY: membership}
    started: dict = {}

    def start_response(status, headers, exc_info=None):
        started["status"], started["headers"] = int(status.split(" ", 1)[0]), headers

    content = b"".join(bridge().wsgi(environ, start_response))
    response = HttpResponse(content, status=started["status"])
    for name, value in started["headers"]:
        if name.lower() not in HOP_BY_HOP:
            response[name] = value
    response["Cache-Control"] = "no-store"
    return response
