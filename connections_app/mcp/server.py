"""The MCP server: the official SDK's ``MCPServer`` with four tools.

The tools are thin: each reads the caller's membership (authenticated by views.py before
the SDK sees the request) and calls one function of tools.py. Descriptions and argument
schemas are written for a model: what the tool is for, what to pass, an example.
"""

from __future__ import annotations

import logging
import math
from typing import Annotated, Any, Literal

from django.db import InterfaceError, OperationalError, close_old_connections
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field
from rest_framework.exceptions import Throttled

from ..crypto import EncryptionKeyUnavailable
from ..errors import ConnectionsError, KeyUnavailable, ServiceUnavailable
from . import tools

logger = logging.getLogger(__name__)

ENVIRON_KEY = "connections.membership"  # where views.py puts the caller for the tools

INSTRUCTIONS = """\
This server calls external APIs (CRMs, mail, payments, ...) through *connections* an
organisation has set up. You never see or send the credentials: the server adds them.
Start with list_connections; use get_connection for a connection's base URL, docs and a
sample request; then call invoke with the connection's link name and a path on its API.
If a tool says a connection needs the user (consent, new credentials), show the user the
link it gives and wait: do not retry before they say it is done."""

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
Status = Literal["pending", "connected", "needs_reauth", "revoked"]
StrMap = dict[str, str]


def _call(ctx: Context, fn, **kwargs: Any) -> dict:
    """Run one tool step as the caller; domain errors become tool errors the model reads."""
    membership = ctx.request_context.request.scope["wsgi_environ"][ENVIRON_KEY]
    close_old_connections()  # this worker thread is reused: as Django does per request
    try:
        return fn(membership=membership, **kwargs)
    except EncryptionKeyUnavailable:
        raise _tool_error(KeyUnavailable()) from None
    except (OperationalError, InterfaceError):
        raise _tool_error(ServiceUnavailable()) from None
    except Throttled as exc:
        raise ToolError(f"throttled: too many calls; retry in {math.ceil(exc.wait or 1)} seconds.") from None
    except ConnectionsError as exc:
        raise _tool_error(exc) from None
    finally:
        close_old_connections()


def _tool_error(exc: ConnectionsError) -> ToolError:
    return ToolError(f"{exc.code}: {exc.message}")


def build_server() -> MCPServer:
    server = MCPServer(name="connections", title="Connections", instructions=INSTRUCTIONS)
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    @server.tool(
        name="list_connections", title="List connections", annotations=read_only,
        description=(
            "List the connections you may use: link name (pass it to invoke), name, service, status "
            "(only 'connected' ones can be invoked), scopes, the API's base URL and docs URL. "
            "Example: {\"search\": \"crm\"} or {\"status\": \"connected\"}."
        ),
    )
    def list_connections(
        ctx: Context,
        search: Annotated[str | None, Field(description="Part of a connection's name or link name, any case.")] = None,
        status: Annotated[Status | None, Field(description="Only connections with this status.")] = None,
    ) -> dict:
        return _call(ctx, tools.connections_list, search=search, status=status)

    @server.tool(
        name="get_connection", title="Get a connection", annotations=read_only,
        description=(
            "One connection in detail: what list_connections gives, plus the hosts it can reach "
            "(allowed_hosts: invoke refuses any other), a sample request to try first, when it was "
            "connected and last used, and its last error. Example: {\"connection\": \"acme_main\"}."
        ),
    )
    def get_connection(
        ctx: Context,
        connection: Annotated[str, Field(description="The connection's link name, e.g. acme_main.")],
    ) -> dict:
        return _call(ctx, tools.connection_detail, connection=connection)

    @server.tool(
        name="invoke", title="Call an API through a connection",
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=True),
        description=(
            "Send one HTTP request to the service behind a connection; the server adds the credentials. "
            "`url` is a path on the service's base URL (\"/v1/contacts\") or a full URL on one of its "
            "allowed hosts. Give at most one of json, form and body. Returns status_code, headers, body "
            "(parsed JSON or text; base64 for binary, see body_encoding) and elapsed_ms; an upstream "
            "4xx/5xx is returned, not raised. Long bodies are cut (truncated: true, with a note). "
            "Example: {\"connection\": \"acme_main\", \"method\": \"GET\", \"url\": \"/v1/contacts\", "
            "\"params\": {\"limit\": \"10\"}}. Do not put credentials in headers or params: they are added for you."
        ),
    )
    def invoke(
        ctx: Context,
        connection: Annotated[str, Field(description="The connection's link name (from list_connections).")],
        url: Annotated[str, Field(description="A path such as /v1/me, or a full https URL on an allowed host.")],
        method: Annotated[Method, Field(description="The HTTP method.")] = "GET",
        params: Annotated[StrMap | None, Field(description="Query string parameters.")] = None,
        headers: Annotated[StrMap | None, Field(description="Extra request headers, e.g. {\"Accept\": \"application/json\"}.")] = None,
        json: Annotated[Any | None, Field(description="A JSON request body (object or array).")] = None,
        form: Annotated[StrMap | None, Field(description="A form-encoded request body.")] = None,
        body: Annotated[str | None, Field(description="A raw text request body.")] = None,
        timeout: Annotated[float | None, Field(description="Seconds to wait for the service (default 30).", gt=0)] = None,
    ) -> dict:
        return _call(
            ctx, tools.connection_invoke, connection=connection, url=url, method=method, params=params, headers=headers,
            json=json, form=form, body=body, timeout=timeout,
        )

    @server.tool(
        name="list_services", title="List services", annotations=read_only,
        description=(
            "List the services connections can be made to (preconfigured and the organisation's own): "
            "link name, name, auth type, base and docs URLs. Use it to tell the user which connection to "
            "create when none fits. Example: {\"search\": \"mail\"}."
        ),
    )
    def list_services(
        ctx: Context,
        search: Annotated[str | None, Field(description="Part of a service's name or link name, any case.")] = None,
    ) -> dict:
        return _call(ctx, tools.services_list, search=search)

    return server
