"""Property-based tests of the API against its own OpenAPI schema (schemathesis), with two
organisations' tokens and every check schemathesis has: no 5xx, no answer the schema does
not describe, no request the schema allows refused for its shape (nor one it forbids
accepted), and no canary secret in any answer."""

from __future__ import annotations

import json

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

# only OAuth connections (with consent, for reconnect) can be reconnected or refreshed
[[operations]]
include-path-regex = "^/api/v1/connections/[{]link_name[}]/(reconnect|refresh)/$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429"]

# A new custom service: its schema carries one shape per auth type and the pattern of every
# URL, but some rules span fields, and OpenAPI 3.0 cannot say "unique by key" or "one of the
# names listed elsewhere": parameter keys and scope names unique, default_scopes among the
# scopes, default_headers' reserved names in any letter case, placeholders naming values kept
# from the provider, an OAuth 2.0 client or authorize_url as its grant needs. (Changing a
# service and setting a client take no allowance.)
[[operations]]
include-name = "POST /api/v1/services/"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429"]
"""

schema = _load_schema()


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
        response = case.call_and_validate(headers={"Authorization": f"Token {token}"})
        assert response.status_code < 500
        assert CANARY not in response.text
