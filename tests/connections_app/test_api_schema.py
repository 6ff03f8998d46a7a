"""The OpenAPI document's promises, checked one by one (the generated client and schemathesis
check the whole; these name what broke)."""

import pytest

from connections_app.api.errors import ERROR_CODES

pytestmark = pytest.mark.django_db

# The contract's codes (API.md) plus the project's (method_not_allowed, not_acceptable, server_error).
CONTRACT_CODES = {
    "validation_error", "not_authenticated", "permission_denied", "not_found", "conflict", "connection_not_ready",
    "host_not_allowed", "upstream_timeout", "upstream_error", "throttled", "encryption_key_unavailable",
    "service_unavailable", "method_not_allowed", "not_acceptable", "server_error",
}


@pytest.fixture(scope="module")
def document(django_db_blocker):
    from drf_spectacular.generators import SchemaGenerator

    with django_db_blocker.unblock():
        return SchemaGenerator().get_schema(request=None, public=True)


def operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_request_bodies_refuse_unknown_fields(document):
    schemas = document["components"]["schemas"]
    open_bodies = set()
    for _path, _method, operation in operations(document):
        for media in operation.get("requestBody", {}).get("content", {}).values():
            name = media["schema"]["$ref"].rsplit("/", 1)[-1]
            if schemas[name].get("additionalProperties") is not False:
                open_bodies.add(name)
    # The OAuth client body's fields depend on the service's auth type (services' own serializer).
    assert open_bodies == {"ServiceClientInRequest"}


def test_every_list_declares_its_page_parameters(document):
    for path, method, operation in operations(document):
        response = operation["responses"]["200"]["content"]["application/json"]["schema"] if "200" in operation["responses"] else {}
        if method == "get" and response.get("$ref", "").endswith("Page"):
            names = {p["name"] for p in operation.get("parameters", [])}
            assert {"page_size", "after", "before"} <= names, path


def test_link_names_carry_their_pattern(document):
    for path, _method, operation in operations(document):
        for parameter in operation.get("parameters", []):
            if parameter["name"] == "link_name":
                assert parameter["schema"]["pattern"] == "^[a-z][a-z0-9_]{1,49}$", path
    body = document["components"]["schemas"]["ConnectionCreateRequest"]["properties"]["link_name"]
    assert body["pattern"] == "^[a-z][a-z0-9_]{1,49}$"


def test_error_codes_are_an_enum_of_the_contracts(document):
    assert set(document["components"]["schemas"]["CodeEnum"]["enum"]) == set(ERROR_CODES) == CONTRACT_CODES


def test_security_schemes_are_what_the_server_takes(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["tokenAuth"] == {**schemes["tokenAuth"], "type": "apiKey", "in": "header", "name": "Authorization"}
    assert "Token <key>" in schemes["tokenAuth"]["description"]
    assert schemes["bearerAuth"]["scheme"] == "bearer" and schemes["cookieAuth"]["in"] == "cookie"
    invoke = document["paths"]["/api/v1/invoke/"]["post"]["security"]
    assert {"tokenAuth": []} in invoke and {"bearerAuth": []} in invoke  # either one, not both together


def test_answers_always_present_are_required(document):
    schemas = document["components"]["schemas"]
    log = schemas["InvocationLog"]
    assert set(log["required"]) == set(log["properties"]) and log["properties"]["error"]["nullable"] is True
    assert set(schemas["Event"]["required"]) == set(schemas["Event"]["properties"])
    assert "authorize_url" in schemas["ConnectionWithLink"]["required"]
    body = schemas["InvokeOut"]["properties"]["body"]
    assert all(branch.get("type") != "array" or "items" in branch for branch in body["oneOf"])
