"""The API's input serializers: unknown fields refused, JSON types taken as sent, the
business functions handed validated values only, and the error envelope as the contract says."""

import pytest
from django.test import Client

from connections_app import services
from connections_app.api import serializers as s
from connections_app.models import Connection, Organisation
from tests.factories import api_key_service

pytestmark = pytest.mark.django_db

SECRET = "upstream-secret-0001"  # what tests.upstream.Upstream accepts


@pytest.fixture
def connection(admin, upstream):
    assert admin.post("/api/v1/services/", api_key_service(base_url=upstream.url, allowed_hosts=["127.0.0.1"]), format="json").status_code == 201
    created = admin.post("/api/v1/connections/", {"name": "A", "link_name": "acme_main", "service": "acme_crm",
                                                  "credentials": {"X-Api-Key": SECRET}}, format="json")
    assert created.status_code == 201, created.content


def error(response) -> dict:
    assert response.status_code == 400, response.content
    body = response.json()["error"]
    assert body["code"] == "validation_error"
    return body


@pytest.mark.parametrize("method, url, body, message", [
    ("post", "/api/v1/connections/", {"name": "B", "link_name": "b_one", "service": "acme_crm", "surprise": 1}, "Unknown field."),
    ("patch", "/api/v1/connections/acme_main/", {"surprise": 1}, "This field cannot be changed."),
    ("post", "/api/v1/invoke/", {"connection": "acme_main", "url": "/anything", "surprise": 1}, "Unknown field."),
    ("put", "/api/v1/webhook/", {"url": "https://hooks.example.com/x", "surprise": 1}, "Unknown field."),
])
def test_every_input_refuses_unknown_fields(admin, connection, upstream, method, url, body, message):
    body_error = error(getattr(admin, method)(url, body, format="json"))
    assert body_error == {"code": "validation_error", "message": "Unknown fields.", "fields": {"surprise": [message]}}
    assert upstream.requests == [] and Connection.objects.count() == 1


@pytest.mark.parametrize("body, field, message", [
    ({"timeout": "5"}, "timeout", "Must be a number of seconds above 0 and at most 120."),
    ({"timeout": True}, "timeout", "Must be a number of seconds above 0 and at most 120."),
    ({"retries": 1.0}, "retries", "Must be a whole number from 0 to 5."),
    ({"retries": True}, "retries", "Must be a whole number from 0 to 5."),
    ({"retries": 6}, "retries", "Must be a whole number from 0 to 5."),
    ({"method": "TRACE"}, "method", "Must be one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS."),
    ({"params": {"a": {"b": 1}}}, "params", "'a' must map to a string."),
    ({"params": []}, "params", "Must be an object of names to strings."),
    ({"headers": {"X-Note": "a\r\nX-Evil: 1"}}, "headers", "'X-Note' contains a line break."),
    ({"form": {"a": ["list", "not", "here"]}}, "form", "'a' must map to a string."),
    ({"params": {"tags": ["a", "b\nc"]}}, "params", "'tags' contains a line break."),
    # names: checked by invoke (OpenAPI 3.0 cannot describe property names)
    ({"params": {"": "x"}}, "params", "'' must map to a string."),
    ({"headers": {"X-A\nB": "x"}}, "headers", "'X-A\\nB' contains a line break."),
    ({"body": {"a": 1}}, "body", "Must be a string (use json for JSON bodies)."),
    ({"url": 5}, "url", "This field is required."),
    ({"connection": ["acme_main"]}, "connection", "This field is required."),
])
def test_invoke_types_are_taken_as_sent(admin, connection, upstream, body, field, message):
    body_error = error(admin.post("/api/v1/invoke/", {"connection": "acme_main", "url": "/anything", **body}, format="json"))
    assert body_error["fields"] == {field: [message]} and body_error["message"] == f"{field}: {message}"
    assert upstream.requests == []


def test_invoke_accepts_what_it_always_has(admin, connection, upstream):
    # A number as a header value used to pass validation and then fail in requests (502).
    response = admin.post("/api/v1/invoke/", {
        "connection": "acme_main", "url": "/anything", "method": "post", "params": {"n": 1, "tags": ["a", 2]},
        "headers": {"X-Count": 3}, "json": None, "form": None, "body": "", "timeout": 10, "retries": None,
    }, format="json")
    assert response.status_code == 200, response.content
    seen = upstream.requests[-1]
    assert seen["method"] == "POST" and seen["args"] == {"n": "1", "tags": "a"} and seen["headers"]["X-Count"] == "3"


@pytest.mark.parametrize("change, field, message", [
    ({"name": 5}, "name", "This field is required."),
    ({"name": "   "}, "name", "This field is required."),
    ({"name": "n" * 101}, "name", "At most 100 characters."),
    ({"link_name": "acme_two\n"}, "link_name", "Must start with a lower case letter and use only a-z, 0-9 and _ (2 to 50 characters)."),
    ({"service": None}, "service", "This field is required."),
    ({"scopes": "contacts.read"}, "scopes", "Must be a list of scope names."),
    ({"credentials": ["sk"]}, "credentials", "Must be an object of credential values."),
    ({"credentials": {"X-Api-Key": 12345678901234}}, "credentials.X-Api-Key", "Must be a string."),
    ({"config": "dc=eu"}, "config", "Must be an object."),
])
def test_connection_create_types(admin, connection, monkeypatch, change, field, message):
    called = []
    monkeypatch.setattr(services, "connection_create", lambda **kwargs: called.append(kwargs))
    body = {"name": "Two", "link_name": "acme_two", "service": "acme_crm", "credentials": {"X-Api-Key": "k" * 16}, **change}
    assert error(admin.post("/api/v1/connections/", body, format="json"))["fields"] == {field: [message]}
    assert called == []  # the business step never sees input that is not valid


def test_the_business_step_gets_the_validated_values(admin, connection, monkeypatch):
    seen = {}
    real = services.connection_create
    monkeypatch.setattr(services, "connection_create", lambda **kwargs: seen.update(kwargs) or real(**kwargs))
    body = {"name": " Two ", "link_name": "acme_two", "service": "acme_crm", "credentials": {"X-Api-Key": "k" * 16}, "scopes": None}
    assert admin.post("/api/v1/connections/", body, format="json").status_code == 201
    assert {k: v for k, v in seen.items() if k not in ("organisation", "actor")} == body  # as sent: no trimming, no coercion
    assert isinstance(seen["organisation"], Organisation)


def test_several_bad_fields_are_all_named(admin, connection):
    body_error = error(admin.post("/api/v1/connections/", {"name": "", "link_name": "Bad", "service": "acme_crm"}, format="json"))
    assert body_error["message"] == "Some fields are missing or not valid."
    assert set(body_error["fields"]) == {"name", "link_name"}


def test_patch_keeps_its_rules(admin, connection):
    assert error(admin.patch("/api/v1/connections/acme_main/", {"link_name": "other"}, format="json"))["fields"] == {
        "link_name": ["The link name of a connection never changes; scripts use it."]
    }
    assert admin.patch("/api/v1/connections/acme_main/", {"link_name": "acme_main", "name": "Same"}, format="json").status_code == 200
    assert error(admin.patch("/api/v1/connections/acme_main/", {"credentials": {"X-Api-Key": 1}}, format="json"))["fields"] == {
        "credentials.X-Api-Key": ["Must be a string."]
    }


@pytest.mark.parametrize("query, field, message", [
    ("status=", "status", "Must be one of: pending, connected, needs_reauth, revoked."),
    ("status=CONNECTED", "status", "Must be one of: pending, connected, needs_reauth, revoked."),
])
def test_connection_filters(admin, connection, query, field, message):
    assert error(admin.get(f"/api/v1/connections/?{query}"))["fields"] == {field: [message]}
    assert [c["link_name"] for c in admin.get("/api/v1/connections/?status=connected&status=revoked").json()["results"]] == []
    assert [c["link_name"] for c in admin.get("/api/v1/connections/?status=connected&search=").json()["results"]] == ["acme_main"]


@pytest.mark.parametrize("query, field, message", [
    ("kind=", "kind", "Must be one of: preconfigured, custom."),
    ("auth_type=aws", "auth_type", "Must be one of: api_key, basic, oauth1, oauth2, aws_sigv4."),
])
def test_service_filters(admin, query, field, message):
    assert error(admin.get(f"/api/v1/services/?{query}"))["fields"] == {field: [message]}
    kinds = {item["kind"] for item in admin.get("/api/v1/services/?kind=preconfigured&auth_type=oauth2&page_size=500").json()["results"]}
    assert kinds == {"preconfigured"}


@pytest.mark.parametrize("url, field, message", [
    ("ftp://hooks.example.com/x", "url", "Give an absolute http(s) URL without user name or password."),
    ("https://user:pw@hooks.example.com/x", "url", "Give an absolute http(s) URL without user name or password."),
    ("https://hooks.example.com/x\n", "url", "Give an absolute http(s) URL without user name or password."),
    ("https://hooks.example.com/" + "x" * 500, "url", "At most 500 characters."),
    (None, "url", "This field is required."),
])
def test_webhook_url(admin, url, field, message):
    assert error(admin.put("/api/v1/webhook/", {"url": url}, format="json"))["fields"] == {field: [message]}
    good = admin.put("/api/v1/webhook/", {"url": "https://hooks.example.com/in?team=a%20b#x"}, format="json")
    assert good.status_code == 200 and good.json()["url"] == "https://hooks.example.com/in?team=a%20b#x"


def test_input_serializers_bind_their_fields_once_and_share_no_state():
    first, second = s.InvokeInSerializer(data={"connection": "a", "url": "/x"}), s.InvokeInSerializer(data={"connection": "b", "url": "/y", "retries": 9})
    assert first.fields is second.fields  # built once per class
    assert not second.is_valid() and first.is_valid()
    assert first.validated_data == {"connection": "a", "url": "/x"} and list(second.errors) == ["retries"]
    with pytest.raises(AssertionError):
        s.InvokeInSerializer(data={}, partial=True)


def test_missing_required_fields_and_bodies_that_are_not_objects(admin, connection):
    assert error(admin.post("/api/v1/invoke/", {"connection": "acme_main"}, format="json")) == {
        "code": "validation_error", "message": "url: This field is required.", "fields": {"url": ["This field is required."]},
    }
    assert error(admin.post("/api/v1/connections/", {}, format="json"))["fields"] == {
        "name": ["This field is required."], "service": ["This field is required."],
        "link_name": ["Must start with a lower case letter and use only a-z, 0-9 and _ (2 to 50 characters)."],  # as it always said
    }
    assert error(admin.post("/api/v1/invoke/", ["acme_main"], format="json")) == {"code": "validation_error", "message": "Send a JSON object."}


def test_strict_input_refuses_hooks_it_would_not_run():
    from connections_app.api.fields import StrictInput, Text

    with pytest.raises(AssertionError):
        type("Hooked", (StrictInput,), {"name": Text(), "validate_name": lambda self, value: value})


def test_nul_characters(admin, connection, upstream):
    # No database stores them: refused where a value is stored or looked up...
    assert error(admin.patch("/api/v1/connections/acme_main/", {"name": "a\x00b"}, format="json"))["fields"] == {
        "name": ["Null characters are not allowed."]
    }
    # ...but a body is only sent on, as it always was.
    sent = admin.post("/api/v1/invoke/", {"connection": "acme_main", "url": "/anything", "method": "POST", "body": "a\x00b"}, format="json")
    assert sent.status_code == 200 and upstream.counts["/anything"] == 1


@pytest.mark.parametrize("request_kwargs, field", [
    ({"timeout": 500}, "timeout"),
    ({"retries": 9}, "retries"),
    ({"method": "TRACE"}, "method"),
    ({"headers": {"X-Note": "a\r\nX-Evil: 1"}}, "headers"),
    ({"params": {"tags": ["a", "b\nc"]}}, "params"),
])
def test_invoke_holds_its_limits_for_every_caller(org, admin, connection, upstream, request_kwargs, field):
    """The MCP tools call invoke() with their own (pydantic) types: the limits are invoke's."""
    from connections_app.errors import ValidationFailed
    from connections_app.invoke import invoke

    with pytest.raises(ValidationFailed) as raised:
        invoke(organisation=org, actor=None, connection="acme_main", url="/anything", **request_kwargs)
    assert list(raised.value.fields) == [field] and upstream.requests == []


@pytest.mark.parametrize("path", ["/api/v1/invoke/", "/api/v1/services/"])
def test_a_body_over_the_upload_limit_gets_the_envelope(admin, connection, settings, path):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = '{"connection": "acme_main", "url": "/a", "body": "%s"}' % ("a" * 2000)
    refused = admin.post(path, body, content_type="application/json")
    assert refused.status_code == 400 and refused["Content-Type"] == "application/json"
    assert refused.json() == {"error": {"code": "validation_error",
                                        "message": "The request body is larger than 1,000 bytes (DATA_UPLOAD_MAX_MEMORY_SIZE)."}}
    page = Client().post("/login/", {"username": "a" * 2000, "password": "x"})  # a page keeps Django's 400 page
    assert page.status_code == 400 and page["Content-Type"].startswith("text/html")
