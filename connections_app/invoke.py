"""Invoke: call an external API through a connection, credentials injected server-side.

One query finds the connection, the strategy for its auth type builds the ``AuthBase``, the
hardened client sends the request, and a log row records the call (written by the batch
writer in invocation_logs.py). The caller gets an envelope; any echo of an injected secret
in the upstream answer is scrubbed from it.
"""

from __future__ import annotations

import base64
import functools
import json as jsonlib
import re
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urljoin, urlsplit

import requests
from django.conf import settings
from django.utils import timezone

from . import hot_cache, http, invocation_logs, selectors, tokens
from .auth import strategy_for
from .errors import ConnectionsError, HostNotAllowed, ValidationFailed
from .models import Connection, InvocationLog
from .observability.metrics import observe_invoke
from .events import actor_name, event_record

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
MAX_RETRIES = 5
REDACTED = b"[redacted]"
# Headers a caller may not set: they belong to the transport, not the request.
FORBIDDEN_HEADERS = frozenset({
    "host", "content-length", "transfer-encoding", "connection", "keep-alive", "proxy-authorization",
    "proxy-connection", "te", "trailer", "upgrade",
})
# Headers that tell a server who the client is or which host it asked for: a caller could
# use them to steer an upstream behind a proxy; they never come from the caller.
FORWARDING_HEADERS = frozenset({
    "forwarded", "via", "x-real-ip", "x-client-ip", "true-client-ip", "x-host", "x-original-host", "x-original-url",
    "x-rewrite-url",
})
HOP_BY_HOP = FORBIDDEN_HEADERS | {"proxy-authenticate", "set-cookie"}


class _SwappableAuth(requests.auth.AuthBase):
    """An AuthBase whose inner auth can be replaced after a token refresh."""

    def __init__(self, inner: requests.auth.AuthBase):
        self.inner = inner

    def __call__(self, request):
        return self.inner(request)


def resolve_url(url: str, base_url: str | None) -> str:
    if not url.strip():
        raise ValidationFailed.field("url", "This field is required.")
    url = url.strip()
    if url.startswith("/") and not url.startswith("//"):
        if not base_url:
            raise ValidationFailed.field("url", "This service has no base_url; give an absolute URL.")
        return urljoin(base_url.rstrip("/") + "/", url.lstrip("/"))
    if "://" not in url:
        raise ValidationFailed.field("url", "Give an absolute http(s) URL or a path starting with /.")
    return url


def _one_line(value) -> bool:
    items = value if isinstance(value, list) else [value]
    return not any(isinstance(i, str) and any(c in i for c in "\r\n\0") for i in items)


def _check_request(url, method, params, headers, json, form, body, timeout, retries, injected: set[str]) -> None:
    """The limits every caller is held to (the REST API's serializer, the MCP tools and
    connection tests alike): a known method, one-line names and values, the timeout and
    retry ranges, one body at most, no transport headers, and no caller value where a
    credential goes. Types are the caller's (api/serializers.InvokeInSerializer)."""
    if method not in METHODS:
        raise ValidationFailed.field("method", f"Must be one of {', '.join(METHODS)}.")
    for field, values in (("params", params), ("headers", headers), ("form", form)):
        for key, value in (values or {}).items():
            if not key:
                raise ValidationFailed.field(field, f"{key!r} must map to a string.")
            if any(c in key for c in "\r\n\0") or not _one_line(value):
                raise ValidationFailed.field(field, f"{key!r} contains a line break.")
    limit = settings.CONNECTIONS_INVOKE_MAX_TIMEOUT
    if not 0 < timeout <= limit:
        raise ValidationFailed.field("timeout", f"Must be a number of seconds above 0 and at most {limit}.")
    if not 0 <= retries <= MAX_RETRIES:
        raise ValidationFailed.field("retries", f"Must be a whole number from 0 to {MAX_RETRIES}.")
    if sum(x is not None for x in (json, form, body)) > 1:
        raise ValidationFailed.field("body", "Send at most one of json, form and body.")
    for key in headers or {}:
        if key.lower() in FORBIDDEN_HEADERS | FORWARDING_HEADERS or key.lower().startswith("x-forwarded-"):
            raise ValidationFailed.field("headers", f"The header {key!r} cannot be set.")
    # A caller value that collides with an injected credential is refused, never merged:
    # wherever it comes from, the upstream would see two values and may pick the caller's.
    for field, names in (
        ("headers", headers or {}), ("params", params or {}), ("form", form or {}),
        ("url", [k for k, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True)]),
        ("body", [k for k, _ in parse_qsl(body, keep_blank_values=True)] if isinstance(body, str) else []),
    ):
        for key in names:
            if key.lower() in injected:
                raise ValidationFailed.field(field, f"{key!r} is set by the connection's credentials.")


def invoke(
    *, organisation, actor, connection: str, url: str, method: str | None = "GET", params: dict | None = None,
    headers: dict | None = None, json: Any = None, form: dict | None = None, body: str | None = None,
    timeout: float | None = None, retries: int | None = None,
) -> dict:
    """Make the request through the connection; return the invoke envelope.

    Takes typed values (``api.serializers.InvokeInSerializer`` makes them from a request
    body: maps of names to strings, a number of seconds, a whole number of retries);
    ``None`` means the default. Ranges and the rules of ``_check_request`` hold for
    every caller."""
    method = (method or "GET").upper()
    timeout = settings.CONNECTIONS_INVOKE_DEFAULT_TIMEOUT if timeout is None else timeout
    retries = retries or 0
    conn = hot_cache.connection_get(organisation=organisation, link_name=connection)  # or selectors.connection_get
    try:
        conn.require_ready()
    except ConnectionsError as exc:  # refused calls are in Recent calls too, like refused hosts
        shown_method = method.upper()[:10] if isinstance(method, str) else "GET"
        _log(conn, actor, timezone.now(), shown_method, url if isinstance(url, str) else "", None, 0, exc.code)
        raise
    service = selectors.connection_service(conn)
    strategy = strategy_for(service)
    if strategy.client_per_call:  # OAuth 1 signs with the client; Etsy sends it in a header
        service = selectors.connection_service(conn, with_secrets=True)
        strategy = strategy_for(service)
    full_url = resolve_url(url, service.base_url)
    _check_request(full_url, method, params, headers, json, form, body, timeout, retries, strategy.injected_names())
    request = http.OutboundRequest(
        method=method, url=full_url, params=params, headers={**service.default_headers, **(headers or {})}, json=json, form=form,
        body=body.encode() if body is not None else None,
    )
    destinations = http.service_destinations(service)
    try:
        http.check_url(full_url, destinations)  # before any refresh or byte is sent
    except ConnectionsError as exc:
        _log(conn, actor, timezone.now(), method, http.public_url(request), None, 0, exc.code)
        _audit_refusal(organisation, actor, conn, exc)
        raise
    credentials = conn.credentials
    secrets_seen = strategy.secret_values(credentials)
    on_response = None
    refreshed_after_401 = []
    if service.oauth2:
        credentials = tokens.ensure_fresh(connection=conn, service=service, credentials=credentials)
        secrets_seen += strategy.secret_values(credentials)

        def on_response(response: requests.Response) -> bool:
            # An upstream 401 gets one refresh and one retry (the token may have died early),
            # but only from the origin that received the token: another allowed host reached
            # by a redirect never saw it, and its 401 says nothing about it.
            if response.status_code != 401 or not http.same_origin(response.url, full_url):
                return False
            fresh = tokens.refresh_after_401(connection=conn, service=service, rejected=credentials)
            if fresh is None:
                return False
            auth.inner = strategy.build_auth(fresh)
            secrets_seen.extend(strategy.secret_values(fresh))
            refreshed_after_401.append(True)
            return True

    auth = _SwappableAuth(strategy.build_auth(credentials))
    started = timezone.now()
    try:
        upstream = observe_invoke(  # counts the outcome and times it (observability/metrics.py)
            http.send, request, allowed_hosts=destinations, auth=auth, timeout=float(timeout), retries=retries,
            on_response=on_response,
        )
    except ConnectionsError as exc:
        _log(conn, actor, started, method, http.public_url(request), None, 0, exc.code)
        _audit_refusal(organisation, actor, conn, exc)
        raise
    if refreshed_after_401 and upstream.status_code == 401:
        tokens.mark_needs_reauth(connection=conn, reason="The service refused a freshly refreshed token (401).")
    _log(conn, actor, started, method, upstream.url, upstream.status_code, upstream.elapsed_ms, "")
    return envelope(upstream, secrets_seen)


def _audit_refusal(organisation, actor, conn: Connection, exc: ConnectionsError) -> None:
    """A refused destination (host, scheme, port, address) leaves an audit event."""
    if isinstance(exc, HostNotAllowed):
        event_record(
            organisation=organisation, actor=actor_name(actor), action="invoke.refused", target=conn.link_name,
            data={"code": exc.code, "reason": exc.message[:300]},
        )


def _log(conn: Connection, actor, at, method: str, url: str, status_code, elapsed_ms: int, error: str) -> None:
    name = actor_name(actor)
    invocation_logs.writer.add(InvocationLog(
        organisation_id=conn.organisation_id, connection_id=conn.pk, at=at, method=method, url=url[:4000],
        status_code=status_code, elapsed_ms=elapsed_ms, error=error, actor=name[:150], token=getattr(name, "token", ""),
    ))


def _char_pattern(ch: str) -> bytes:
    """Every spelling of one character an upstream may echo: itself, percent-encoded in
    either case (per UTF-8 byte), a JSON escape (``\\uXXXX``, ``\\/``), ``+`` for a space."""
    def hexcase(text: str) -> str:
        return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in text)

    spellings = [re.escape(ch), "".join("%" + hexcase(f"{b:02X}") for b in ch.encode())]
    if len(ch.encode("utf-16-be")) == 2:
        spellings.append(r"\\u" + hexcase(f"{ord(ch):04X}"))
    if ch == "/":
        spellings.append(r"\\/")
    if ch == " ":
        spellings.append(r"\+")
    return ("(?:" + "|".join(spellings) + ")").encode()


@functools.lru_cache(maxsize=256)
def _encoded_echo(secret: str) -> re.Pattern:
    """The pattern of every encoded spelling of ``secret``, compiled once per secret and
    process (compiling costs milliseconds for a long token; matching is fast)."""
    return re.compile(b"".join(_char_pattern(ch) for ch in secret))


class Redaction:
    """What to replace by ``[redacted]``: literal forms (plain, base64) on the fast path; the
    encoded spellings only when a body holds ``%``, ``\\`` or ``+``."""

    def __init__(self, secrets: list[str]):
        given = {s for s in secrets if s and len(s) >= 4}
        literals: set[bytes] = set()
        for secret in given:
            raw = secret.encode()
            literals.update({raw, base64.b64encode(raw), base64.urlsafe_b64encode(raw).rstrip(b"=")})
        self.literals = sorted(literals, key=len, reverse=True)
        # The strategies hand over quoted spellings too; one pattern per decoded secret
        # matches all of them.
        self.secrets = sorted({unquote_plus(s) for s in given} | given, key=len, reverse=True)

    def apply(self, data: bytes) -> bytes:
        for literal in self.literals:
            data = data.replace(literal, REDACTED)
        if self.secrets and (b"%" in data or b"\\" in data or b"+" in data):
            for secret in self.secrets:
                data = _encoded_echo(secret).sub(REDACTED, data)
        return data


def scrub(data: bytes, secrets: list[str]) -> bytes:
    """Replace every echo of a secret in ``data`` by ``[redacted]``: plain, base64 (as in
    a Basic header), percent-encoded in either case and JSON-escaped."""
    return Redaction(secrets).apply(data)


def _scrub_decoded(value: Any, redaction) -> Any:
    """Scrub the strings of a decoded JSON body too: an escape such as ``\\u0041`` spelled
    only some characters of a secret, and decoding joins them again."""
    if isinstance(value, str):
        return redaction.apply(value.encode()).decode() if value else value
    if isinstance(value, list):
        return [_scrub_decoded(v, redaction) for v in value]
    if isinstance(value, dict):
        return {_scrub_decoded(k, redaction): _scrub_decoded(v, redaction) for k, v in value.items()}
    return value


def envelope(upstream: http.UpstreamResponse, secrets: list[str]) -> dict:
    redaction = Redaction(secrets)
    content = redaction.apply(upstream.content)
    headers = {
        k: redaction.apply(v.encode("latin-1", "replace")).decode("latin-1")
        for k, v in upstream.headers.items() if k not in HOP_BY_HOP
    }
    body, encoding = decode_body(content, upstream.content_type)
    if encoding != "base64":
        body = _scrub_decoded(body, redaction)
    return {
        "status_code": upstream.status_code, "headers": headers, "body": body,
        "body_encoding": encoding, "elapsed_ms": upstream.elapsed_ms,
    }


def decode_body(content: bytes, content_type: str) -> tuple[Any, str]:
    media = content_type.split(";", 1)[0].strip().lower()
    if not content:
        return "", "text"
    if media == "application/json" or media.endswith("+json"):
        try:
            return jsonlib.loads(content), "json"
        except ValueError:
            pass
    textual = (
        media.startswith("text/") or media.endswith("+xml") or media in (
            "application/json", "application/xml", "application/javascript", "application/x-www-form-urlencoded",
        ) or "charset=" in content_type.lower() or not media
    )
    if textual:
        try:
            return content.decode(_charset(content_type)), "text"
        except (UnicodeDecodeError, LookupError):
            pass
    return base64.b64encode(content).decode(), "base64"


def _charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            return value.strip('"')
    return "utf-8"
