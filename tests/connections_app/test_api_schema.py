"""The OpenAPI document's promises, checked one by one (the generated client and schemathesis
check the whole; these name what broke)."""

import re

import pytest
from pydantic import TypeAdapter, ValidationError

from connections_app.api.errors import ERROR_CODES
from connections_app.api.service_serializers import CLIENT_SHAPES
from connections_app.auth.registry import AUTH_TYPES, sections
from services_catalog.fields import URL_PATTERN, HostPattern, TokenTemplate, Url, ValueTemplate

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
            # A body of several shapes (oneOf) refuses unknown fields in each of them.
            shapes = [ref["$ref"].rsplit("/", 1)[-1] for ref in schemas[name].get("oneOf", [])] or [name]
            open_bodies.update(shape for shape in shapes if schemas[shape].get("additionalProperties") is not False)
    assert open_bodies == set()


def test_the_document_is_strict_openapi_3_0(document):
    from drf_spectacular.validation import validate_schema

    validate_schema(document)  # raises on anything OpenAPI 3.0's own JSON schema refuses


def test_a_new_service_is_one_shape_per_auth_type(document):
    schemas = document["components"]["schemas"]
    body = schemas["ServiceInRequest"]
    mapping = body["discriminator"]["mapping"]
    assert body["discriminator"]["propertyName"] == "auth_type" and set(mapping) == set(AUTH_TYPES)
    assert [branch["$ref"] for branch in body["oneOf"]] == list(mapping.values())
    for auth_type, ref in mapping.items():
        shape = schemas[ref.rsplit("/", 1)[-1]]
        assert schemas[shape["properties"]["auth_type"]["$ref"].rsplit("/", 1)[-1]]["enum"] == [auth_type]
        blocks = {block for block in sections() if block in shape["properties"]}
        section = AUTH_TYPES[auth_type].section
        assert blocks == ({section} if section else set()) and (section is None or section in shape["required"])
    api_key, basic = schemas["ServiceInApiKey"]["properties"], schemas["ServiceInBasic"]["properties"]
    aws = schemas["ServiceInAwsSigv4"]["properties"]
    assert api_key["parameters"]["minItems"] == 1 and aws["parameters"]["maxItems"] == 0
    # Basic may carry extra secret parameters (none required), in a header or the query string.
    assert "minItems" not in basic["parameters"] and "maxItems" not in basic["parameters"]
    assert schemas[basic["param_type"]["allOf"][0]["$ref"].rsplit("/", 1)[-1]]["enum"] == ["header", "query"]
    assert schemas[aws["param_type"]["allOf"][0]["$ref"].rsplit("/", 1)[-1]]["enum"] == ["header"]


def test_a_client_is_one_of_the_pairs_the_server_takes(document):
    schemas = document["components"]["schemas"]
    pairs = [schemas[ref["$ref"].rsplit("/", 1)[-1]]["required"] for ref in schemas["ServiceClientInRequest"]["oneOf"]]
    assert pairs == [list(shape) for shape in CLIENT_SHAPES]
    assert ["client_id", "client_secret"] in pairs and ["consumer_key", "consumer_secret"] in pairs
    assert ["client_id", "client_secret", "redirect_name"] in pairs  # eBay's RuName beside the client


@pytest.mark.parametrize("url, accepted", [
    ("https://api.example.com/v1?x=1#y", True), ("http://127.0.0.1:8080/", True), ("https://{subdomain}.example.com", True),
    ("{instance_url}/services/data", True), ("https://user:pw@example.com/", False), ("ftp://example.com/", False),
    ("https://", False), ("https://example.com/a b", False), ("example.com/x", False), ("https://exa mple.com", False),
])
def test_url_fields_publish_the_pattern_that_validates_them(document, url, accepted):
    field = document["components"]["schemas"]["ServiceInOAuth2Config"]["properties"]["token_url"]
    assert field["format"] == "uri-template" and field["pattern"] == URL_PATTERN
    assert bool(re.search(field["pattern"], url)) is accepted
    try:
        TypeAdapter(Url).validate_python(url)
    except ValidationError:
        assert not accepted
    else:
        assert accepted


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


@pytest.mark.parametrize("declared, value", [
    (HostPattern, "api.example.com"), (HostPattern, "*.example.com"), (HostPattern, "http://127.0.0.1:8080"),
    (HostPattern, "a..b"), (HostPattern, "a:0"), (HostPattern, "a:65536"), (HostPattern, "-a"), (HostPattern, "user@a"),
    (ValueTemplate, "Bearer {value}"), (ValueTemplate, "{value} {value}"), (ValueTemplate, "Key {other} {value}"),
    (TokenTemplate, "{token_prefix} {access_token}"), (TokenTemplate, "{token_prefix} only"), (TokenTemplate, "x {a} {access_token}"),
])
def test_published_patterns_are_the_ones_that_validate(declared, value):
    adapter = TypeAdapter(declared)
    pattern = adapter.json_schema()["pattern"]
    try:
        adapter.validate_python(value)
    except ValidationError:
        accepted = False
    else:
        accepted = True
    assert bool(re.search(pattern, value)) is accepted
