"""Code snippets that call a service through a connection (pure functions of their input).

Deluge uses the connection directly (``connection: "<link_name>"``); curl, Python and
JavaScript call this server's invoke endpoint with the same request, reading the API token
from the ``CONNECTIONS_TOKEN`` environment variable so no secret is ever in a snippet.
"""

from __future__ import annotations

import json


def sample_url(service) -> str:
    return service.sample_url or service.base_url or "https://example.invalid/"


def build(*, link_name: str, url: str, base_url: str, method: str = "GET") -> dict[str, str]:
    invoke_url = f"{base_url.rstrip('/')}/api/v1/invoke/"
    payload = {"connection": link_name, "url": url, "method": method}
    return {
        "deluge": deluge(link_name=link_name, url=url, method=method),
        "curl": curl(invoke_url, payload),
        "python": python(invoke_url, payload),
        "javascript": javascript(invoke_url, payload),
    }


def deluge(*, link_name: str, url: str, method: str) -> str:
    quoted = url.replace("\\", "\\\\").replace('"', '\\"')
    return (
        "response = invokeurl\n[\n"
        f'\turl: "{quoted}"\n'
        f"\ttype: {method}\n"
        f'\tconnection: "{link_name}"\n'
        "];\ninfo response;"
    )


def curl(invoke_url: str, payload: dict) -> str:
    body = json.dumps(payload).replace("'", "'\\''")
    return (
        f'curl -sS -X POST "{invoke_url}" \\\n'
        '  -H "Authorization: Token $CONNECTIONS_TOKEN" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        f"  -d '{body}'"
    )


def python(invoke_url: str, payload: dict) -> str:
    return (
        "import os\n\nimport requests\n\n"
        "response = requests.post(\n"
        f"    {json.dumps(invoke_url)},\n"
        '    headers={"Authorization": f"Token {os.environ[\'CONNECTIONS_TOKEN\']}"},\n'
        f"    json={json.dumps(payload)},\n"
        "    timeout=60,\n"
        ")\n"
        "response.raise_for_status()\n"
        "print(response.json())"
    )


def javascript(invoke_url: str, payload: dict) -> str:
    return (
        "(async () => {\n"
        f"  const response = await fetch({json.dumps(invoke_url)}, {{\n"
        '    method: "POST",\n'
        "    headers: {\n"
        "      Authorization: `Token ${process.env.CONNECTIONS_TOKEN}`,\n"
        '      "Content-Type": "application/json",\n'
        "    },\n"
        f"    body: JSON.stringify({json.dumps(payload)}),\n"
        "  });\n"
        "  console.log(await response.json());\n"
        "})();"
    )
