"""The OpenAPI schema is the truth: a client generated from the live ``/api/v1/schema/`` by
openapi-python-client (no warnings allowed, so nothing is dropped) drives a whole session
against a live server: a custom API-key service, connections paged to the end, invoke with
JSON, text and base64 bodies, the logs, and errors parsed into the generated models.
openapi-python-client is pinned in requirements-dev.txt."""

from __future__ import annotations

import base64
import importlib
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from connections_app.models import Role

PACKAGE = "connections_client"
SECRET = "upstream-secret-0001"  # what tests.upstream.Upstream accepts
# No post hooks: the generator would run a formatter over the code it wrote.
CONFIG = f"project_name_override: {PACKAGE}\npackage_name_override: {PACKAGE}\npost_hooks: []\n"


@pytest.fixture
def client_package(live_server, tmp_path, monkeypatch):
    """Generate the client from the schema the live server serves; import it."""
    schema = requests.get(f"{live_server.url}/api/v1/schema/?format=json", timeout=30)
    assert schema.status_code == 200
    (tmp_path / "schema.json").write_bytes(schema.content)
    (tmp_path / "config.yaml").write_text(CONFIG)
    generated = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", "schema.json", "--config", "config.yaml",
         "--meta", "none", "--output-path", PACKAGE, "--fail-on-warning"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]
    yield importlib.import_module(PACKAGE)
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def api(name: str):
    return importlib.import_module(f"{PACKAGE}.api.v1.{name}")


def test_a_generated_client_drives_a_whole_session(client_package, live_server, org, member_client, upstream, settings):
    settings.CONNECTIONS_BASE_URL = live_server.url
    from connections_client import AuthenticatedClient, models  # noqa: PLC0415

    token = member_client(org, Role.ADMIN).token
    cx = AuthenticatedClient(base_url=live_server.url, token=token, prefix="Token", raise_on_unexpected_status=True)

    # A custom API-key service on the local upstream.
    # The body is one shape per auth type (a discriminated oneOf): the API-key one.
    service = api("v1_services_create").sync(client=cx, body=models.ServiceInApiKey.from_dict({
        "link_name": "acme_crm", "name": "Acme CRM", "auth_type": "api_key", "param_type": "header",
        "parameters": [{"key": "X-Api-Key", "display_name": "API key"}], "base_url": upstream.url, "allowed_hosts": ["127.0.0.1"],
    }))
    assert isinstance(service, models.Service) and service.kind == models.KindEnum.CUSTOM
    assert service.oauth2 is None and service.allowed_hosts == ["127.0.0.1"]
    # The organisation's client for a preconfigured OAuth service: one of the (id, secret) pairs.
    github = api("v1_services_client_update").sync(
        client=cx, link_name="github", body=models.ServiceClientInClientSecret(client_id="gh-id", client_secret="gh-secret"),
    )
    assert isinstance(github, models.Service) and github.oauth2.has_client_secret and github.oauth2.client_id == "gh-id"

    # Connections, then every page of them.
    for i in range(7):
        created = api("v1_connections_create").sync(client=cx, body=models.ConnectionCreateRequest.from_dict({
            "name": f"Acme {i}", "link_name": f"acme_{i}", "service": "acme_crm", "credentials": {"X-Api-Key": SECRET},
        }))
        assert isinstance(created, models.ConnectionWithLink), created
        assert created.status == models.StatusEnum.CONNECTED and created.authorize_url is None
    seen, after, pages = [], None, 0
    while True:
        page = api("v1_connections_list").sync(client=cx, page_size=3, **({"after": after} if after else {}))
        assert isinstance(page, models.ConnectionListItemPage)
        seen += [c.link_name for c in page.results]
        pages += 1
        if page.next_ is None:
            break
        after = parse_qs(urlsplit(page.next_).query)["after"][0]
    assert seen == [f"acme_{i}" for i in range(7)] and pages == 3
    connected = api("v1_connections_list").sync(client=cx, status=client_package.models.V1ConnectionsListStatus.CONNECTED)
    assert len(connected.results) == 7
    detail = api("v1_connections_retrieve").sync(client=cx, link_name="acme_0")
    assert isinstance(detail, models.ConnectionOut) and 'connection: "acme_0"' in detail.snippets.deluge

    # Invoke: a JSON body, a text body, a binary one.
    invoke = api("v1_invoke_create")
    as_json = invoke.sync(client=cx, body=models.InvokeInRequest(connection="acme_0", url="/protected/header/X-Api-Key"))
    assert isinstance(as_json, models.InvokeOut) and as_json.status_code == 200
    assert as_json.body_encoding == models.BodyEncodingEnum.JSON and as_json.body.to_dict() == {"ok": True}
    posted = invoke.sync(client=cx, body=models.InvokeInRequest(
        connection="acme_0", url="/anything", method=models.MethodEnum.POST, params=models.InvokeInRequestParamsType0.from_dict({"q": "x"}),
        json={"note": "hi"},
    ))
    assert posted.status_code == 200 and upstream.requests[-1]["args"] == {"q": "x"}
    as_base64 = invoke.sync(client=cx, body=models.InvokeInRequest(connection="acme_0", url="/binary", timeout=10.0, retries=1))
    assert as_base64.body_encoding == models.BodyEncodingEnum.BASE64 and base64.b64decode(as_base64.body) == bytes(range(256))
    as_text = invoke.sync(client=cx, body=models.InvokeInRequest(connection="acme_0", url="/no/such/page"))  # an HTML 404 page
    assert as_text.status_code == 404 and as_text.body_encoding == models.BodyEncodingEnum.TEXT and "Not Found" in as_text.body

    # The log, newest first; a call that got no answer has its error code, the others null.
    refused = invoke.sync(client=cx, body=models.InvokeInRequest(connection="acme_0", url="https://elsewhere.example/x"))
    assert isinstance(refused, models.Error) and refused.error.code == models.CodeEnum.HOST_NOT_ALLOWED
    logs = api("v1_connections_logs_retrieve").sync(client=cx, link_name="acme_0", page_size=2)
    assert isinstance(logs, models.InvocationLogPage) and len(logs.results) == 2 and logs.next_
    assert logs.results[0].error == "host_not_allowed" and logs.results[0].status_code is None
    assert logs.results[1].error is None and logs.results[1].status_code == 404
    older = api("v1_connections_logs_retrieve").sync(client=cx, link_name="acme_0", after=int(parse_qs(urlsplit(logs.next_).query)["after"][0]))
    assert [entry.status_code for entry in older.results] == [200, 200, 200]

    # Errors, parsed: validation (with fields), not found, an unknown field refused.
    bad = api("v1_connections_create").sync(client=cx, body=models.ConnectionCreateRequest(name="X", link_name="acme_0", service="nope"))
    assert isinstance(bad, models.Error) and bad.error.code == models.CodeEnum.VALIDATION_ERROR
    assert bad.error.fields.to_dict() == {"service": ["No service with link name 'nope'."]}
    gone = api("v1_connections_retrieve").sync(client=cx, link_name="nobody_here")
    assert isinstance(gone, models.Error) and gone.error.code == models.CodeEnum.NOT_FOUND
    # Inputs refuse unknown fields (additionalProperties: false): their models hold none.
    assert not hasattr(models.PatchedConnectionUpdateRequest(), "additional_properties")
    renamed = api("v1_connections_partial_update").sync(client=cx, link_name="acme_0", body=models.PatchedConnectionUpdateRequest(name="Renamed"))
    assert isinstance(renamed, models.ConnectionUpdated) and renamed.name == "Renamed"
    anonymous = api("v1_connections_list").sync(client=client_package.Client(base_url=live_server.url))
    assert isinstance(anonymous, models.Error) and anonymous.error.code == models.CodeEnum.NOT_AUTHENTICATED

    # The same key as a Bearer token, and the webhook.
    bearer = AuthenticatedClient(base_url=live_server.url, token=token)
    assert api("v1_webhook_retrieve").sync(client=bearer).has_secret is False
    hook = api("v1_webhook_update").sync(client=bearer, body=models.WebhookInRequest(url="https://hooks.example.com/in"))
    assert isinstance(hook, models.WebhookCreated) and hook.secret.startswith("whsec_")
