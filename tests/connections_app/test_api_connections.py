"""Connections API for api_key and basic services: create, list, get, patch, revoke, delete, test."""

import pytest

from connections_app.models import Connection, Event
from tests.factories import api_key_service

pytestmark = pytest.mark.django_db

SECRET = "upstream-secret-0001"


@pytest.fixture
def service(admin):
    assert admin.post("/api/v1/services/", api_key_service(keys=("X-Api-Key", "X-Account")), format="json").status_code == 201


def create(client, link_name="acme_main", **extra):
    body = {"name": "Acme main", "link_name": link_name, "service": "acme_crm",
            "credentials": {"X-Api-Key": "key-value-123456789", "X-Account": "acct-1"}}
    body.update(extra)
    return client.post("/api/v1/connections/", body, format="json")


def test_create_returns_the_connection_without_secrets(admin, service):
    response = create(admin)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "connected" and body["authorize_url"] is None
    assert body["service"] == {"link_name": "acme_crm", "name": "Acme CRM", "auth_type": "api_key"}
    assert body["created_by"] == "admin-acme" and body["connected_at"]
    assert "key-value-123456789" not in response.content.decode()
    assert body["credentials_hint"] == "…6789"
    assert 'connection: "acme_main"' in body["snippets"]["deluge"]


@pytest.mark.parametrize("credentials, field", [
    ({"X-Api-Key": "k" * 16}, "credentials.X-Account"),
    ({"X-Api-Key": "k" * 16, "X-Account": "a", "Extra": "x"}, "credentials.Extra"),
    ({"X-Api-Key": "", "X-Account": "a"}, "credentials.X-Api-Key"),
])
def test_missing_or_unknown_credential_keys(admin, service, credentials, field):
    response = create(admin, credentials=credentials)
    assert response.status_code == 400 and field in response.json()["error"]["fields"]
    assert not Connection.objects.exists()


@pytest.mark.parametrize("change, field", [
    ({"link_name": "Bad Name"}, "link_name"),
    ({"link_name": "x"}, "link_name"),
    ({"name": ""}, "name"),
    ({"service": "no_such_service"}, "service"),
    ({"scopes": ["a"]}, "scopes"),
    ({"surprise": 1}, "surprise"),
])
def test_create_validation(admin, service, change, field):
    response = create(admin, **change)
    assert response.status_code == 400 and field in response.json()["error"]["fields"]
    assert not Connection.objects.exists()


def test_link_name_unique_per_organisation(admin, outsider, service):
    assert create(admin).status_code == 201
    again = create(admin)
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    outsider.post("/api/v1/services/", api_key_service(keys=("X-Api-Key", "X-Account")), format="json")
    assert create(outsider).status_code == 201  # another organisation may use the same link name


def test_preconfigured_basic_and_config(admin):
    response = admin.post("/api/v1/connections/", {
        "name": "Twilio", "link_name": "twilio_main", "service": "twilio",
        "credentials": {"username": "ACxxxx", "password": "auth-token-abcdef12"},
    }, format="json")
    assert response.status_code == 201, response.content
    zendesk = admin.get("/api/v1/services/zendesk/").json()
    if zendesk["auth_type"] in ("api_key", "basic"):
        fields = [f["name"] for f in zendesk["config_fields"]]
        bad = admin.post("/api/v1/connections/", {"name": "Z", "link_name": "zd", "service": "zendesk", "config": {fields[0]: "evil.example/x"}}, format="json")
        assert bad.status_code == 400 and f"config.{fields[0]}" in bad.json()["error"]["fields"]


def test_list_filters_and_pagination(admin, service):
    for i in range(7):
        create(admin, link_name=f"conn_{i}", name=f"Conn {i}")
    admin.post("/api/v1/connections/conn_3/revoke/")
    body = admin.get("/api/v1/connections/?page_size=3").json()
    assert [c["link_name"] for c in body["results"]] == ["conn_0", "conn_1", "conn_2"] and body["next"]
    seen = []
    url = "/api/v1/connections/?page_size=3"
    while url:
        page = admin.get(url).json()
        seen += [c["link_name"] for c in page["results"]]
        url = page["next"]
    assert seen == [f"conn_{i}" for i in range(7)]
    assert [c["link_name"] for c in admin.get("/api/v1/connections/?status=revoked").json()["results"]] == ["conn_3"]
    assert len(admin.get("/api/v1/connections/?service=acme_crm").json()["results"]) == 7
    assert [c["link_name"] for c in admin.get("/api/v1/connections/?search=CONN 5").json()["results"]] == ["conn_5"]
    assert admin.get("/api/v1/connections/?status=weird").status_code == 400


def test_patch_name_and_credentials_but_never_link_name(admin, service):
    create(admin)
    renamed = admin.patch("/api/v1/connections/acme_main/", {"name": "Renamed"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["name"] == "Renamed"
    refused = admin.patch("/api/v1/connections/acme_main/", {"link_name": "other"}, format="json")
    assert refused.status_code == 400 and "link_name" in refused.json()["error"]["fields"]
    changed = admin.patch("/api/v1/connections/acme_main/", {"credentials": {"X-Api-Key": "new-key-value-0000"}}, format="json")
    assert changed.status_code == 200 and changed.json()["credentials_hint"] == "…0000"
    stored = Connection.objects.get(link_name="acme_main").credentials
    assert stored == {"X-Api-Key": "new-key-value-0000", "X-Account": "acct-1"}
    bad = admin.patch("/api/v1/connections/acme_main/", {"credentials": {"Nope": "x"}}, format="json")
    assert bad.status_code == 400
    assert Connection.objects.get(link_name="acme_main").credentials == stored  # nothing half-written
    assert Event.objects.filter(action="connection.credentials_changed").count() == 1


def test_revoke_wipes_and_credentials_patch_reconnects(admin, service):
    create(admin)
    revoked = admin.post("/api/v1/connections/acme_main/revoke/")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    row = Connection.objects.get(link_name="acme_main")
    assert row.credentials_encrypted == "" and row.credentials_hint == ""
    back = admin.patch("/api/v1/connections/acme_main/", {"credentials": {"X-Api-Key": "k" * 20, "X-Account": "a"}}, format="json")
    assert back.json()["status"] == "connected"


def test_delete(admin, service):
    create(admin)
    assert admin.delete("/api/v1/connections/acme_main/").status_code == 204
    assert admin.get("/api/v1/connections/acme_main/").status_code == 404
    assert Event.objects.filter(action="connection.deleted", target="acme_main").exists()


def test_test_action_runs_the_verify_request(admin, upstream):
    admin.post("/api/v1/services/", {
        "link_name": "verified", "name": "Verified", "auth_type": "api_key", "parameters": [{"key": "X-Api-Key", "display_name": "Key"}],
        "base_url": upstream.url, "allowed_hosts": ["127.0.0.1"], "verify": {"method": "GET", "path": "/protected/header/X-Api-Key"},
    }, format="json")
    admin.post("/api/v1/connections/", {"name": "ok", "link_name": "good", "service": "verified", "credentials": {"X-Api-Key": SECRET}}, format="json")
    admin.post("/api/v1/connections/", {"name": "bad", "link_name": "bad", "service": "verified", "credentials": {"X-Api-Key": "nope-nope-nope"}}, format="json")
    assert admin.post("/api/v1/connections/good/test/").json() == {"ok": True, "status_code": 200, "message": "The service accepted the credentials."}
    bad = admin.post("/api/v1/connections/bad/test/").json()
    assert bad["ok"] is False and bad["status_code"] == 401 and "update the credentials" in bad["message"]


def test_test_action_without_verify(admin, service):
    create(admin)
    result = admin.post("/api/v1/connections/acme_main/test/").json()
    assert result["ok"] is True and result["status_code"] is None


def test_roles_and_isolation(admin, viewer, developer, outsider, service):
    assert create(viewer).status_code == 403
    assert create(developer).status_code == 201
    assert viewer.get("/api/v1/connections/acme_main/").status_code == 200
    for method, url in [("patch", "/api/v1/connections/acme_main/"), ("delete", "/api/v1/connections/acme_main/"),
                        ("post", "/api/v1/connections/acme_main/revoke/"), ("post", "/api/v1/connections/acme_main/test/")]:
        assert getattr(viewer, method)(url, {}, format="json").status_code == 403
        response = getattr(outsider, method)(url, {}, format="json")
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert outsider.get("/api/v1/connections/acme_main/logs/").status_code == 404
    assert Connection.objects.get(link_name="acme_main").status == "connected"


def test_list_query_count_is_flat(admin, service, django_assert_max_num_queries):
    for i in range(3):
        create(admin, link_name=f"few_{i}")
    with django_assert_max_num_queries(3):
        admin.get("/api/v1/connections/?page_size=100")
    for i in range(30):
        create(admin, link_name=f"many_{i}")
    with django_assert_max_num_queries(3):
        admin.get("/api/v1/connections/?page_size=100")


def test_events_for_admins_only(admin, viewer, service):
    create(admin)
    events = admin.get("/api/v1/events/").json()["results"]
    assert {"connection.created", "service.created", "token.created"} <= {e["action"] for e in events}
    assert viewer.get("/api/v1/events/").status_code == 403


@pytest.mark.parametrize("cursor", ["after", "before"])
@pytest.mark.parametrize("value", ["", "x", "1.5"])
def test_an_id_cursor_that_is_not_a_whole_number_is_refused(admin, cursor, value):
    refused = admin.get(f"/api/v1/events/?{cursor}={value}")
    assert refused.status_code == 400 and refused.json()["error"]["fields"] == {cursor: ["Not a valid page position."]}
    assert admin.get(f"/api/v1/connections/?{cursor}=").status_code == 200  # a link name cursor: empty is none


def test_reserved_link_name_and_conflict_fields(admin, service):
    reserved = create(admin, link_name="new")
    assert reserved.status_code == 400 and "link_name" in reserved.json()["error"]["fields"]
    create(admin)
    taken = create(admin)
    assert taken.status_code == 409 and "link_name" in taken.json()["error"]["fields"]


def test_a_connection_whose_service_left_the_catalog_still_lists(admin, settings, tmp_path):
    from services_catalog import registry

    (tmp_path / "gone_api.yaml").write_text(
        "link_name: gone_api\nname: Gone\nauth_type: api_key\nparameters: [{key: k, display_name: K}]\nbase_url: https://api.gone.example\n"
    )
    settings.CONNECTIONS_CATALOG_DIRS = [str(tmp_path)]
    registry.reset()
    try:
        assert admin.post("/api/v1/connections/", {"name": "G", "link_name": "g1", "service": "gone_api", "credentials": {"k": "v" * 16}}, format="json").status_code == 201
        settings.CONNECTIONS_CATALOG_DIRS = []
        registry.reset()
        listed = admin.get("/api/v1/connections/").json()["results"]
        assert listed[0]["service"]["link_name"] == "gone_api" and "not in the catalog" in listed[0]["service"]["name"]
        assert admin.get("/api/v1/connections/g1/").status_code == 200
        assert admin.post("/api/v1/invoke/", {"connection": "g1", "url": "/x"}, format="json").status_code == 404
    finally:
        settings.CONNECTIONS_CATALOG_DIRS = []
        registry.reset()
