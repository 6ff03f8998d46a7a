"""What the MCP tools do: plain functions over the same business steps as the REST API.

Each takes the caller's ``membership`` (its API token attached, see
api/authentication.py) and returns a JSON-ready dict, or raises ``ConnectionsError``.
The limits are the REST API's: the role and token checks of token_limits.py, the invoke
throttle of api/views.py, and ``invoke.invoke`` itself (guard, size and time limits, logs
and audit). Nothing here holds or returns a secret.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.urls import reverse
from rest_framework.exceptions import Throttled

from services_catalog.schema import ServiceDefinition

from .. import selectors, services, token_limits
from ..errors import ConnectionNotReady, ConnectionsError
from ..invoke import invoke as invoke_step
from ..models import Membership, TokenAction
from ..api.views import InvokeThrottle  # the REST invoke's own throttle, shared

LIST_LIMIT = 500  # connections or services in one answer; the model is told when there are more


def _token(membership: Membership):
    return getattr(membership, "api_token", None)


def _check(membership: Membership, action: str) -> None:
    token_limits.action_check(_token(membership), action, role=membership.role)


def _service_summary(service: ServiceDefinition) -> dict:
    return {
        "link_name": service.link_name, "name": service.name, "auth_type": service.auth_type,
        "base_url": service.base_url, "docs_url": service.docs_url, "description": service.description or None,
    }


def _connection_summary(connection, service: ServiceDefinition) -> dict:
    return {
        "link_name": connection.link_name, "name": connection.name,
        "service": {"link_name": service.link_name, "name": service.name, "auth_type": service.auth_type},
        "status": connection.status, "scopes": list(connection.scopes or []),
        "base_url": service.base_url, "docs_url": service.docs_url,
    }


def connections_list(*, membership: Membership, search: str | None = None, status: str | None = None) -> dict:
    _check(membership, TokenAction.READ)
    rows = selectors.connection_list_values(
        organisation=membership.organisation, status=status or None, search=search or None,
        link_names=token_limits.allowed_connections(_token(membership)),
    )[: LIST_LIMIT + 1]
    listed = selectors.with_custom_services(selectors.listed(list(rows)))
    result = {"connections": [_connection_summary(c, selectors.connection_service(c)) for c in listed[:LIST_LIMIT]]}
    if len(listed) > LIST_LIMIT:
        result["note"] = f"Only the first {LIST_LIMIT}; narrow with search or status."
    return result


def connection_detail(*, membership: Membership, connection: str) -> dict:
    _check(membership, TokenAction.READ)
    token_limits.connection_check(_token(membership), connection)
    conn = selectors.connection_get(organisation=membership.organisation, link_name=connection)
    service = selectors.connection_service(conn)
    data = _connection_summary(conn, service)
    sample = None
    if service.verify is not None:
        sample = {"method": service.verify.method, "url": service.verify.path}
    elif service.sample_url:
        sample = {"method": "GET", "url": service.sample_url}
    data.update({
        "allowed_hosts": list(service.allowed_hosts),
        "sample_request": sample and {"connection": conn.link_name, **sample},
        "error": conn.error or None,
        "connected_at": conn.connected_at.isoformat() if conn.connected_at else None,
        "expires_at": conn.expires_at.isoformat() if conn.expires_at else None,
        "last_used_at": conn.last_used_at.isoformat() if getattr(conn, "last_used_at", None) else None,
    })
    return data


def services_list(*, membership: Membership, search: str | None = None) -> dict:
    _check(membership, TokenAction.READ)
    found = selectors.service_list(organisation=membership.organisation, search=search or None)
    result = {"services": [_service_summary(s) for s in found[:LIST_LIMIT]]}
    if len(found) > LIST_LIMIT:
        result["note"] = f"Only the first {LIST_LIMIT}; narrow with search."
    return result


def _throttle(membership: Membership) -> None:
    """The REST invoke's own throttle (one window per organisation, shared with REST)."""
    throttle = InvokeThrottle()
    if not throttle.allow_request(SimpleNamespace(auth=membership), None):
        raise Throttled(wait=throttle.wait())


def connection_invoke(*, membership: Membership, connection: str, **request: Any) -> dict:
    """Invoke through ``connection`` as ``POST /api/v1/invoke/`` does; the body is cut
    past ``CONNECTIONS_MCP_MAX_BODY_CHARS`` (a model's context is smaller than 10 MiB)."""
    _check(membership, TokenAction.INVOKE)
    token_limits.connection_check(_token(membership), connection)
    _throttle(membership)
    actor = membership.user
    try:
        result = invoke_step(organisation=membership.organisation, actor=actor, connection=connection, **request)
    except ConnectionNotReady as exc:
        raise ConnectionNotReady(f"{exc.message} {_connect_hint(membership, connection)}") from None
    return _cut_body(result, settings.CONNECTIONS_MCP_MAX_BODY_CHARS)


def _connect_hint(membership: Membership, link_name: str) -> str:
    """Tell the agent how a person can make the connection usable: a one-time connect
    link for consent (OAuth), else the connection's page to update its credentials."""
    try:
        _conn, url = services.connection_reconnect(organisation=membership.organisation, actor=membership.user, link_name=link_name)
    except ConnectionsError:
        page = settings.CONNECTIONS_BASE_URL + reverse("connection-detail", kwargs={"link_name": link_name})
        return f"Ask the user to open {page} in a browser and update its credentials, then try again."
    return (
        f"Ask the user to open this one-time link in a browser to connect it (valid "
        f"{settings.CONNECTIONS_AUTHORIZE_LINK_SECONDS // 60} minutes): {url} - then try again."
    )


def _cut_body(result: dict, limit: int) -> dict:
    body = result.get("body")
    text = body if isinstance(body, str) else None
    if text is None and body is not None:
        text = json.dumps(body, ensure_ascii=False)
    if text is not None and len(text) > limit:
        result = {**result, "body": text[:limit], "body_encoding": "text" if result["body_encoding"] == "json" else result["body_encoding"]}
        result["truncated"] = True
        result["note"] = (
            f"The body was cut to its first {limit} of {len(text)} characters "
            f"(CONNECTIONS_MCP_MAX_BODY_CHARS). Ask for less (filters, paging, fields) to see all of it."
        )
    return result
