"""Scoped API tokens: created through the API, the command and the page; limited to
connections, actions and time; never more than the role; named in logs and events."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from connections_app.models import ApiToken, Event, InvocationLog, Membership, Role
from tests.factories import SECRET, make_connection, make_service

pytestmark = pytest.mark.django_db


def client_for(key: str, keyword: str = "Token") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{keyword} {key}")
    return client


def create_token(client, **body):
    return client.post("/api/v1/tokens/", body, format="json")


@pytest.fixture
def two_connections(admin, upstream):
    make_service(admin, base_url=upstream.url)
    make_connection(admin, "acme_api", link_name="acme_main", credentials={"X-Api-Key": SECRET})
    make_connection(admin, "acme_api", link_name="acme_other", credentials={"X-Api-Key": SECRET})


def test_create_shows_the_key_once_and_lists_without_it(admin):
    expires = (timezone.now() + timedelta(days=7)).isoformat()
    response = create_token(admin, name="agent", actions=["read"], expires_at=expires)
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["token"].startswith("cnx_") and created["prefix"] == created["token"][:10]
    assert created["actions"] == ["read"] and created["connections"] is None and created["expires_at"]
    assert response["Cache-Control"] == "no-store"
    listed = admin.get("/api/v1/tokens/").json()
    assert created["id"] in [t["id"] for t in listed]
    assert created["token"] not in str(listed) and all("token" not in t for t in listed)
    assert ApiToken.objects.get(pk=created["id"]).key_hash != created["token"]


@pytest.mark.parametrize("body, field", [
    ({"actions": ["read", "delete_everything"]}, "actions.1"),
    ({"actions": []}, "actions"),
    ({"connections": ["nope"]}, "connections"),
    ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
    ({"scopes": ["read"]}, "scopes"),
    ({"name": "x" * 101}, "name"),
])
def test_bad_input_is_refused_with_the_field_named(admin, body, field):
    response = create_token(admin, **body)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert ApiToken.objects.count() == 1  # the admin fixture's own


def test_a_token_never_has_more_than_the_role(viewer):
    response = create_token(viewer, actions=["read", "invoke"])
    # A viewer's token cannot create tokens at all (that is a ``manage`` action)...
    assert response.status_code == 403
    # ... and in the browser the role decides: read only.
    membership = Membership.objects.get(role=Role.VIEWER)
    browser = Client()
    browser.force_login(membership.user)
    response = browser.post("/api/v1/tokens/", {"actions": ["invoke"]}, content_type="application/json")
    assert response.status_code == 400 and "actions" in response.json()["error"]["fields"]
    response = browser.post("/api/v1/tokens/", {"actions": ["read"]}, content_type="application/json")
    assert response.status_code == 201


def test_todays_tokens_keep_working_as_full_role_tokens(admin, two_connections):
    assert admin.get("/api/v1/connections/").json()["results"][1]["link_name"] == "acme_other"
    assert admin.post("/api/v1/invoke/", {"connection": "acme_main", "url": "/anything"}, format="json").status_code == 200


def test_a_scoped_token_sees_and_uses_only_its_connections(admin, two_connections):
    key = create_token(admin, name="claude", connections=["acme_main"], actions=["read", "invoke"]).json()["token"]
    agent = client_for(key, "Bearer")
    listed = agent.get("/api/v1/connections/").json()["results"]
    assert [c["link_name"] for c in listed] == ["acme_main"]
    assert agent.get("/api/v1/connections/acme_main/").status_code == 200
    hidden = agent.get("/api/v1/connections/acme_other/")
    missing = agent.get("/api/v1/connections/does_not_exist/")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"]["code"] == "not_found"
    assert hidden.json()["error"]["message"].replace("acme_other", "X") == missing.json()["error"]["message"].replace("does_not_exist", "X")
    refused = agent.post("/api/v1/invoke/", {"connection": "acme_other", "url": "/anything"}, format="json")
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"
    ok = agent.post("/api/v1/invoke/", {"connection": "acme_main", "url": "/protected/header/X-Api-Key"}, format="json")
    assert ok.status_code == 200 and ok.json()["body"] == {"ok": True}
    # An action outside the token: 403, and nothing changes.
    denied = agent.post("/api/v1/connections/acme_main/revoke/", format="json")
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "permission_denied"
    denied = agent.post("/api/v1/connections/", {"name": "n", "link_name": "acme_new", "service": "acme_api"}, format="json")
    assert denied.status_code == 403
    # Invocation logs and audit events name the token (its prefix and name, never the key).
    log = InvocationLog.objects.get(connection__link_name="acme_main")
    token = ApiToken.objects.get(name="claude")
    assert log.token == token.label and key not in log.token and "claude" in log.token
    logs = agent.get("/api/v1/connections/acme_main/logs/").json()["results"]
    assert logs[0]["token"] == token.label and logs[0]["actor"] == "admin-acme"


def test_events_name_the_token_and_a_scoped_token_sees_only_its_connections_events(admin, two_connections):
    key = create_token(admin, name="ops", connections=["acme_main"]).json()["token"]
    ops = client_for(key)
    assert ops.post("/api/v1/connections/acme_main/revoke/").status_code == 200
    event = Event.objects.get(action="connection.revoked")
    assert event.token == ApiToken.objects.get(name="ops").label
    seen = ops.get("/api/v1/events/").json()["results"]
    assert {e["target"] for e in seen} == {"acme_main"}
    assert any(e["token"] == event.token for e in seen)
    everything = admin.get("/api/v1/events/").json()["results"]
    assert "acme_other" in {e["target"] for e in everything}
    assert Event.objects.filter(action="token.created").first().data["connections"] == ["acme_main"]


def test_a_manage_token_can_create_connections_inside_its_list(admin, upstream):
    make_service(admin, base_url=upstream.url)
    key = create_token(admin, connections=[], actions=["manage"]).json()
    assert "connections" in key["error"]["fields"]  # an empty list is refused: null means all
    make_connection(admin, "acme_api", link_name="acme_main", credentials={"X-Api-Key": SECRET})
    key = create_token(admin, connections=["acme_main"], actions=["manage"]).json()["token"]
    manager = client_for(key)
    assert manager.delete("/api/v1/connections/acme_main/").status_code == 204
    again = manager.post("/api/v1/connections/", {
        "name": "Again", "link_name": "acme_main", "service": "acme_api", "credentials": {"X-Api-Key": SECRET},
    }, format="json")
    assert again.status_code == 201


def test_an_expired_token_is_not_authenticated(admin):
    key = create_token(admin, expires_at=(timezone.now() + timedelta(minutes=5)).isoformat()).json()["token"]
    assert client_for(key).get("/api/v1/services/?page_size=1").status_code == 200
    ApiToken.objects.filter(prefix=key[:10]).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client_for(key).get("/api/v1/services/?page_size=1")
    assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"
    assert "expired" in response.json()["error"]["message"]


def test_a_limited_token_makes_no_wider_token_and_sees_no_wider_ones(admin, two_connections):
    parent = create_token(admin, name="parent", connections=["acme_main"], actions=["read", "manage"],
                          expires_at=(timezone.now() + timedelta(days=1)).isoformat()).json()
    limited = client_for(parent["token"])
    child = create_token(limited, name="child").json()
    assert child["connections"] == ["acme_main"] and child["actions"] == ["read", "manage"]
    assert child["expires_at"] == parent["expires_at"]
    for body in ({"connections": ["acme_other"]}, {"actions": ["invoke"]},
                 {"expires_at": (timezone.now() + timedelta(days=30)).isoformat()}):
        response = create_token(limited, **body)
        assert response.status_code == 400, body
    # It sees itself and its child, not the admin's full token; it cannot revoke that one.
    seen = {t["name"] for t in limited.get("/api/v1/tokens/").json()}
    assert seen == {"parent", "child"}
    full = ApiToken.objects.get(name="")
    assert limited.delete(f"/api/v1/tokens/{full.pk}/").status_code == 404
    assert ApiToken.objects.filter(pk=full.pk).exists()


def test_revoke_stops_the_token_now_and_another_members_token_is_not_found(admin, developer):
    created = create_token(admin, name="gone").json()
    other = create_token(developer, name="theirs").json()
    assert admin.delete(f"/api/v1/tokens/{other['id']}/").status_code == 404
    assert admin.delete(f"/api/v1/tokens/{created['id']}/").status_code == 204
    assert client_for(created["token"]).get("/api/v1/connections/").status_code == 401
    assert Event.objects.filter(action="token.revoked", target=created["prefix"]).exists()


def test_last_used_is_recorded(admin):
    created = create_token(admin, name="used").json()
    assert created["last_used_at"] is None
    client_for(created["token"]).get("/api/v1/connections/")
    assert ApiToken.objects.get(pk=created["id"]).last_used_at is not None


def test_command_makes_a_scoped_token(org, two_connections):
    out = StringIO()
    call_command("api_token", "admin-acme", "--org", "acme", "--name", "agent", "--connections", "acme_main,acme_other",
                 "--actions", "read,invoke", "--expires", "7d", stdout=out)
    key = out.getvalue().strip()
    token = ApiToken.objects.get(prefix=key[:10])
    assert token.name == "agent" and token.connections == ["acme_main", "acme_other"] and token.actions == ["read", "invoke"]
    assert timedelta(days=6, hours=23) < token.expires_at - timezone.now() <= timedelta(days=7)
    with pytest.raises(CommandError, match="No such connection: nope"):
        call_command("api_token", "admin-acme", "--org", "acme", "--connections", "nope", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("api_token", "admin-acme", "--org", "acme", "--expires", "soon", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="does not allow: invoke"):
        call_command("api_token", "viewer-x", "--org", "acme", "--role", "viewer", "--create", "--actions", "invoke",
                     stdout=StringIO())
