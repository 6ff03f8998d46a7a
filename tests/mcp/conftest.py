"""A live server for MCP tests: the product under gunicorn with the production config
(settings/gunicorn.conf.py), as ``scripts/serve`` runs it, on the test database; and the
SDK's own client (``ClientSession`` over Streamable HTTP) holding an API token."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager

import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.production.gunicorn import Gunicorns

# Small, so that the tests see the cut and the throttle without big payloads or floods.
MAX_BODY_CHARS = 2000
INVOKE_RATE = "6/min"


@pytest.fixture(scope="module")
def mcp_server(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        servers = Gunicorns(tmp_path_factory.mktemp("mcp-gunicorn"))
        server = servers.start(
            "mcp", CONNECTIONS_MCP_MAX_BODY_CHARS=MAX_BODY_CHARS, CONNECTIONS_INVOKE_RATE=INVOKE_RATE,
            CONNECTIONS_INVOCATION_LOG_FLUSH_SECONDS=0, LOG_LEVEL="DEBUG",
        )
    yield server
    servers.stop_all()


@asynccontextmanager
async def mcp_session(server, key: str):
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        async with streamable_http_client(f"{server.url}/mcp", http_client=http) as streams:
            read, write = streams[0], streams[1]
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


def call(server, key: str, tool: str, **arguments):
    """Call one tool in a fresh session; return the CallToolResult."""

    async def run():
        async with mcp_session(server, key) as session:
            return await session.call_tool(tool, arguments)

    return asyncio.run(run())


def text_of(result) -> str:
    return "".join(c.text for c in result.content if getattr(c, "text", None))


def data_of(result) -> dict:
    assert not result.is_error, text_of(result)
    return result.structured_content or json.loads(text_of(result))
