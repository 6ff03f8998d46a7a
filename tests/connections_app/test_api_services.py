"""The services API per the contract: list, filters, pagination, custom CRUD, clients."""

import pytest

from tests.factories import api_key_service

pytestmark = pytest.mark.django_db


def error_code(response):
    return response.json()["error"]["code"]


def test_list_is_paginated_and_following_next_reaches_every_service(admin):
    seen = []
    url = "/api/v1/services/?page_size=37"
    while url:
        body = admin.get(url).json()
        assert set(body) == {"results", "next", "previous"}
        seen += [s["link_name"] for s in body["results"]]
        url = body["next"]
    assert len(seen) == len(set(seen)) >= 100
    assert seen == sorted(seen)


def test_previous_goes_back(admin):
    first = admin.get("/api/v1/services/?page_size=5").json()
    second = admin.get(first["next"]).json()
    back = admin.get(second["previous"]).json()
    assert [s["link_name"] for s in back["results"]] == [s["link_name"] for s in first["results"]]


def test_filters(admin):
    admin.post("/api/v1/services/", api_key_service(), format="json")
    custom = admin.get("/api/v1/services/?kind=custom").json()["results"]
    assert [s["link_name"] for s in custom] == ["acme_crm"]
    oauth1 = admin.get("/api/v1/services/?auth_type=oauth1&page_size=500").json()["results"]
    assert oauth1 and all(s["auth_type"] == "oauth1" for s in oauth1)
    found = admin.get("/api/v1/services/?search=ZOHO").json()["results"]
    assert "zoho" in [s["link_name"] for s in found]
    assert error_code(admin.get("/api/v1/services/?kind=weird")) == "validation_error"
    assert error_code(admin.get("/api/v1/services/?page_size=501")) == "validation_error"


def test_get_preconfigured(admin):
    zoho = admin.get("/api/v1/services/zoho/").json()
    assert zoho["kind"] == "preconfigured"
    assert zoho["oauth2"]["token_prefix"] == "Zoho-oauthtoken"
    assert zoho["oauth2"]["has_client_secret"] is False


@pytest.mark.parametrize("auth_type", ["api_key", "basic", "oauth1", "oauth2"])
def test_create_each_auth_type_and_secrets_are_write_only(admin, auth_type):
    data = {"link_name": f"my_{auth_type}", "name": f"My {auth_type}", "auth_type": auth_type, "base_url": "https://api.my.example"}
    if auth_type == "api_key":
        data["parameters"] = [{"key": "api_key", "display_name": "API Key"}]
        data["param_type"] = "query"
    if auth_type == "oauth2":
        data["oauth2"] = {"client_id": "cid", "client_secret": "very-secret-client", "authorize_url": "https://auth.my.example/a",
                          "token_url": "https://auth.my.example/t", "pkce": False, "scope_delimiter": ","}
        data["scopes"] = [{"name": "contacts.read", "display_name": "Read contacts"}]
    if auth_type == "oauth1":
        data["oauth1"] = {"consumer_key": "ck", "consumer_secret": "very-secret-client", "request_token_url": "https://auth.my.example/r",
                          "authorize_url": "https://auth.my.example/a", "access_token_url": "https://auth.my.example/t",
                          "signature_method": "HMAC-SHA256"}
    response = admin.post("/api/v1/services/", data, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "custom" and body["allowed_hosts"] == ["api.my.example"] and body["created_at"]
    assert "very-secret-client" not in response.content.decode()
    block = body.get(auth_type) if auth_type in ("oauth1", "oauth2") else None
    if block:
        assert block["has_client_secret"] is True
    again = admin.get(f"/api/v1/services/my_{auth_type}/")
    assert "very-secret-client" not in again.content.decode()


@pytest.mark.parametrize(
    "change, field",
    [
        ({"link_name": "9bad"}, "link_name"),
        ({"parameters": []}, "parameters"),
        ({"param_type": "cookie"}, "param_type"),
        ({"base_url": "not a url"}, "base_url"),
        ({"base_url": None}, "allowed_hosts"),
        ({"name": ""}, "name"),
    ],
)
def test_create_validation_errors_name_the_field(admin, change, field):
    response = admin.post("/api/v1/services/", {**api_key_service(), **change}, format="json")
    assert response.status_code == 400
    assert error_code(response) == "validation_error"
    assert field in response.json()["error"]["fields"]


def test_oauth2_custom_needs_client_and_urls(admin):
    data = {"link_name": "oa", "name": "OA", "auth_type": "oauth2", "base_url": "https://api.x.example",
            "oauth2": {"client_id": "c", "authorize_url": "https://x.example/a", "token_url": "https://x.example/t"}}
    response = admin.post("/api/v1/services/", data, format="json")
    assert response.status_code == 400 and "oauth2.client_secret" in response.json()["error"]["fields"]


def test_link_name_conflicts(admin):
    assert admin.post("/api/v1/services/", api_key_service(), format="json").status_code == 201
    again = admin.post("/api/v1/services/", api_key_service(), format="json")
    assert again.status_code == 409 and error_code(again) == "conflict"
    taken = admin.post("/api/v1/services/", api_key_service("github"), format="json")
    assert taken.status_code == 409


def test_patch_and_delete_custom_only(admin):
    admin.post("/api/v1/services/", api_key_service(), format="json")
    patched = admin.patch("/api/v1/services/acme_crm/", {"name": "Acme 2", "base_url": "https://api2.acme.example"}, format="json")
    assert patched.status_code == 200
    assert patched.json()["name"] == "Acme 2" and patched.json()["allowed_hosts"] == ["api2.acme.example"]
    assert admin.patch("/api/v1/services/github/", {"name": "x"}, format="json").status_code == 400
    assert admin.delete("/api/v1/services/github/").status_code == 400
    assert admin.delete("/api/v1/services/acme_crm/").status_code == 204
    assert admin.get("/api/v1/services/acme_crm/").status_code == 404


def test_delete_refused_while_connections_use_it(admin):
    admin.post("/api/v1/services/", api_key_service(), format="json")
    admin.post("/api/v1/connections/", {"name": "c", "link_name": "c1", "service": "acme_crm", "credentials": {"X-Api-Key": "k" * 20}}, format="json")
    response = admin.delete("/api/v1/services/acme_crm/")
    assert response.status_code == 409 and error_code(response) == "conflict"


def test_client_credentials_for_preconfigured_oauth(admin):
    response = admin.put("/api/v1/services/github/client/", {"client_id": "gh-id", "client_secret": "gh-secret-value"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["oauth2"]["client_id"] == "gh-id" and body["oauth2"]["has_client_secret"] is True
    assert "gh-secret-value" not in response.content.decode()
    missing = admin.put("/api/v1/services/github/client/", {"client_id": "gh-id"}, format="json")
    assert missing.status_code == 400 and "client_secret" in missing.json()["error"]["fields"]
    trello = admin.put("/api/v1/services/trello/client/", {"consumer_key": "k", "consumer_secret": "s"}, format="json")
    assert trello.status_code == 200 and trello.json()["oauth1"]["has_client_secret"] is True
    assert admin.put("/api/v1/services/stripe/client/", {"client_id": "a", "client_secret": "b"}, format="json").status_code == 400


def test_tenant_isolation(admin, outsider):
    admin.post("/api/v1/services/", api_key_service(), format="json")
    assert outsider.get("/api/v1/services/acme_crm/").status_code == 404
    assert error_code(outsider.patch("/api/v1/services/acme_crm/", {"name": "x"}, format="json")) == "not_found"
    assert outsider.delete("/api/v1/services/acme_crm/").status_code == 404
    assert "acme_crm" not in [s["link_name"] for s in outsider.get("/api/v1/services/?kind=custom").json()["results"]]
    admin.put("/api/v1/services/github/client/", {"client_id": "mine", "client_secret": "s"}, format="json")
    assert outsider.get("/api/v1/services/github/").json()["oauth2"]["client_id"] is None


def test_roles(viewer, developer):
    assert viewer.get("/api/v1/services/").status_code == 200
    for client in (viewer, developer):
        response = client.post("/api/v1/services/", api_key_service(), format="json")
        assert response.status_code == 403 and error_code(response) == "permission_denied"


def test_not_authenticated(db):
    from rest_framework.test import APIClient

    client = APIClient()
    response = client.get("/api/v1/services/")
    assert response.status_code == 401 and error_code(response) == "not_authenticated"
    client.credentials(HTTP_AUTHORIZATION="Token nope")
    assert client.get("/api/v1/services/").status_code == 401


def test_schema_and_docs(db, client):
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200 and b"openapi" in schema.content and b"/api/v1/invoke/" in schema.content
    assert client.get("/api/docs/").status_code == 200


def test_unknown_api_route_is_json_not_found(admin):
    response = admin.get("/api/v1/nothing-here/")
    assert response.status_code == 404 and error_code(response) == "not_found"
