"""Property-based tests of the API against its own OpenAPI schema (schemathesis), with two
organisations' tokens and every check schemathesis has: no 5xx, no answer the schema does
not describe, no request the schema allows refused for its shape (nor one it forbids
accepted), and no canary secret in any answer."""

from __future__ import annotations

import json
import re

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from connections_app.models import Role

CANARY = "canary-schemathesis-8c1f0e2d"
pytestmark = pytest.mark.django_db


def _load_schema():
    """The schema exactly as /api/v1/schema/ serves it, loaded at collection time."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    document = json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))
    loaded = schemathesis.openapi.from_dict(document, config=SchemathesisConfig.from_str(MEANING_CHECKED))
    loaded.app = get_wsgi_application()
    return loaded


# Valid by the schema is not always valid by meaning: these operations may refuse a
# well-formed request (400) for what only stored data can tell. Every other operation must
# accept what its schema allows.
MEANING_CHECKED = """
# Half the connections' path link names name what the fixture stored, so answers with data
# (a connection, its logs) are checked too.
[dictionaries.stored]
values = ["acme_main"]

[[operations]]
include-path-regex = "^/api/v1/connections/[{]"
parameters = { "path.link_name" = { dictionary = "stored", probability = 0.5 } }

# the service must exist in the organisation; scopes must be the service's; config its fields
[[operations]]
include-name = "POST /api/v1/connections/"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429"]

# link_name may be sent only unchanged; scopes only to an OAuth connection
[[operations]]
include-name = "PATCH /api/v1/connections/{link_name}/"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429"]

# a token's connections must be the organisation's
[[operations]]
include-name = "POST /api/v1/tokens/"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429"]

# only OAuth connections (with consent, for reconnect) can be reconnected or refreshed
[[operations]]
include-path-regex = "^/api/v1/connections/[{]link_name[}]/(reconnect|refresh)/$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429"]

"""

schema = _load_schema()

# What a new custom service must also satisfy: rules across its fields that OpenAPI 3.0 cannot
# state ("unique by key", "one of the names listed elsewhere", names of a map's keys), and those
# of an OAuth 2.0 grant. Written here on their own, not taken from the server: a body that obeys
# them and its schema must be accepted (201, or 409 for a taken link name).
PLACEHOLDER = re.compile(r"\{[a-z][a-z0-9_]*\}")
KEPT_PATH = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,59}(\.[A-Za-z][A-Za-z0-9_]{0,59}){0,3}")
RESERVED_HEADERS = {"authorization", "host", "cookie", "content-length", "transfer-encoding"}
RESERVED_AUTHORIZE_PARAMS = {"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"}
TOKEN_PARAM = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,99}")
RESERVED_TOKEN_PARAMS = {
    "grant_type", "client_id", "client_secret", "code", "redirect_uri", "code_verifier", "refresh_token", "scope",
    "assertion", "client_assertion", "client_assertion_type", "username", "password", "token", "token_type_hint",
}


def _unique(values) -> bool:
    values = list(values)
    return len(set(values)) == len(values)


def _kept_name(path: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", path).replace(".", "_").lower()


def _oauth2_rules_hold(block: dict, scopes: list, param_type: str) -> bool:
    grant = block.get("grant_type") or "authorization_code"
    secret = "client_private_key" if block.get("token_endpoint_auth_method") == "private_key_jwt" else "client_secret"
    kept = [*block.get("keep_from_token_response", []), *block.get("keep_from_callback", [])]
    authorize_params = block.get("authorize_params", {})
    return (
        (grant != "authorization_code" or bool(block.get("authorize_url")))
        and (grant == "jwt_bearer" or (bool(block.get("client_id")) and bool(block.get(secret))))
        and (grant == "authorization_code" or not block.get("keep_from_callback"))
        and (grant == "authorization_code" or not (block.get("uses_redirect_name") or block.get("redirect_name")))
        and (bool(block.get("uses_redirect_name")) == bool(block.get("redirect_name")))
        and (block.get("token_request_format", "form") == "form"
             or (grant in ("authorization_code", "client_credentials") and block.get("token_endpoint_auth_method") != "client_secret_query"))
        and all(TOKEN_PARAM.fullmatch(name) and name.lower() not in RESERVED_TOKEN_PARAMS for name in block.get("token_params", {}))
        and (not block.get("client_headers") or param_type == "header")
        and all(re.fullmatch(r"[A-Za-z0-9-]{1,100}", name)
                and name.lower() not in RESERVED_HEADERS | {block.get("token_header", "Authorization").lower()}
                for name in block.get("client_headers", {}))
        and all(KEPT_PATH.fullmatch(path) for path in kept) and _unique(_kept_name(path) for path in kept)
        and not RESERVED_AUTHORIZE_PARAMS & set(authorize_params)
        and all(s.get("param", "scope") == "scope" or s["param"] not in RESERVED_AUTHORIZE_PARAMS | set(authorize_params) for s in scopes)
        and all("-----BEGIN" in key and "PRIVATE KEY-----" in key for key in [block.get("client_private_key")] if key)
    )


def cross_field_rules_hold(body: dict) -> bool:
    scopes, blocks = body.get("scopes", []), [v for k, v in body.items() if k in ("oauth1", "oauth2", "aws")]
    maps = [body.get("default_headers", {}), *(m for b in blocks for m in (b.get("authorize_params"), b.get("assertion_claims")) if m)]
    templated = [body.get("base_url"), body.get("sample_url"), (body.get("verify") or {}).get("path"), *body.get("allowed_hosts", []),
                 *((body.get("aws") or {}).get(k) for k in ("service", "region")), *(body.get("oauth2") or {}).get("token_params", {}).values()]
    return (
        _unique(p["key"].lower() for p in body.get("parameters", [])) and _unique(s["name"] for s in scopes)
        and set(body.get("default_scopes", [])) <= {s["name"] for s in scopes}
        and not RESERVED_HEADERS & {key.lower() for key in body.get("default_headers", {})}
        and all(key and not re.search(r"[\r\n\x00]", key) for m in maps for key in m)
        and not any(PLACEHOLDER.search(value) for value in templated if value)
        and (body["auth_type"] != "oauth1" or all(body["oauth1"].get(k) for k in ("consumer_key", "consumer_secret")))
        and (body["auth_type"] != "oauth2" or _oauth2_rules_hold(body["oauth2"], scopes, body.get("param_type", "header")))
    )


def _checks_for(case) -> dict:
    """A new custom service that breaks one of those rules may be refused (every other check
    still applies); only one that obeys them must be accepted."""
    body = case.body
    if case.operation.label != "POST /api/v1/services/" or not isinstance(body, dict) or "auth_type" not in body:
        return {}
    try:
        holds = cross_field_rules_hold(body)
    except (AttributeError, KeyError, TypeError):  # a body its schema refuses anyway
        holds = False
    return {} if holds else {"excluded_checks": [schemathesis.checks.positive_data_acceptance]}


@pytest.fixture
def tokens(org, other_org, member_client, upstream):
    admin = member_client(org, Role.ADMIN, username="fuzz-admin")
    admin.post("/api/v1/services/", {"link_name": "acme_crm", "name": "Acme", "auth_type": "api_key", "parameters": [{"key": "X-Api-Key", "display_name": "K"}],
                                     "base_url": upstream.url}, format="json")
    admin.post("/api/v1/connections/", {"name": "A", "link_name": "acme_main", "service": "acme_crm", "credentials": {"X-Api-Key": CANARY}}, format="json")
    admin.put("/api/v1/services/github/client/", {"client_id": "gh", "client_secret": CANARY}, format="json")
    # Log rows for the logs operation to answer with: a call that got an answer, one that did not.
    admin.post("/api/v1/invoke/", {"connection": "acme_main", "url": "/anything"}, format="json")
    admin.post("/api/v1/invoke/", {"connection": "acme_main", "url": "http://localhost:9/"}, format="json")
    other = member_client(other_org, Role.DEVELOPER, username="fuzz-other")
    # Calls go straight into the WSGI app, inside the test's transaction: keep Django from
    # closing the connection after each request, as its own test client does (it reconnects
    # the signal after each of its requests, so this comes after the set-up calls above).
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield {"owner": admin.token, "other": other.token}
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_conforms_to_its_schema(case, tokens):
    # Each case runs as the organisation that owns the data and as another one probing it.
    for token in (tokens["owner"], tokens["other"]):
        response = case.call_and_validate(headers={"Authorization": f"Token {token}"}, **_checks_for(case))
        assert response.status_code < 500
        assert CANARY not in response.text
