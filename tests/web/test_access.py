"""Who may see and do what on the pages: sign-in, roles, tenant isolation, CSRF, headers."""

from __future__ import annotations

import pytest

from connections_app.models import Connection, ConnectionStatus, CustomService, Role

from .conftest import SECRET, custom_form

pytestmark = pytest.mark.django_db

PAGES = [
    "/", "/connections/new/", "/connections/new/?tab=custom", "/connections/new/openai/",
    "/connections/check-link-name/?link_name=abc", "/connections/acme_main/", "/connections/acme_main/edit/",
    "/connections/acme_main/revoke/", "/connections/acme_main/delete/", "/services/", "/services/acme_crm/edit/",
    "/services/acme_crm/delete/", "/services/zoho/client/", "/tokens/",
]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_but_sign_in_needs_a_signed_in_user(client, acme_connection, path):
    response = client.get(path)
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


def test_sign_in_and_out(client, admin_web):
    user = admin_web.user
    user.set_password("a-long-password-1")
    user.save()
    page = client.get("/login/")
    assert page.status_code == 200 and b'name="csrfmiddlewaretoken"' in page.content
    bad = client.post("/login/", {"username": user.username, "password": "wrong"})
    assert bad.status_code == 200 and b"Please enter a correct" in bad.content
    good = client.post("/login/", {"username": user.username, "password": "a-long-password-1"})
    assert good.status_code == 302 and good["Location"] == "/"
    assert client.get("/").status_code == 200
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("path", [p for p in PAGES if "check-link-name" not in p])
def test_pages_are_not_cached_and_keep_the_referrer_policy(admin_web, acme_connection, path):
    response = admin_web.get(path)
    assert response.status_code == 200, path
    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


def test_a_user_without_organisation_is_told_so(client, db):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("lonely")
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 403 and b"not a member of any organisation" in response.content


# -- roles ---------------------------------------------------------------------------------
def test_viewer_sees_no_write_buttons(web, acme_connection):
    viewer = web(Role.VIEWER)
    listing = viewer.get("/").content.decode()
    assert "Acme main" in listing and "Create Connection" not in listing
    summary = viewer.get("/connections/acme_main/").content.decode()
    for word in ("Test connection", "Reconnect", "connection-revoke", "/delete/", "/edit/"):
        assert word not in summary
    assert 'connection: &quot;acme_main&quot;' in summary  # but may read the snippet
    services_page = viewer.get("/services/").content.decode()
    assert "Acme CRM" in services_page and "/services/acme_crm/edit/" not in services_page and "Set client" not in services_page


@pytest.mark.parametrize("method, path", [
    ("get", "/connections/new/"), ("get", "/connections/new/openai/"), ("post", "/connections/new/openai/"),
    ("post", "/connections/new/"), ("get", "/connections/acme_main/edit/"), ("post", "/connections/acme_main/edit/"),
    ("post", "/connections/acme_main/test/"), ("post", "/connections/acme_main/reconnect/"),
    ("get", "/connections/acme_main/revoke/"), ("post", "/connections/acme_main/revoke/"),
    ("get", "/connections/acme_main/delete/"), ("post", "/connections/acme_main/delete/"),
    ("get", "/services/acme_crm/edit/"), ("post", "/services/acme_crm/edit/"), ("post", "/services/acme_crm/delete/"),
    ("post", "/services/zoho/client/"),
])
def test_viewer_is_refused_every_write(web, acme_connection, method, path):
    viewer = web(Role.VIEWER)
    response = getattr(viewer, method)(path, {"name": "x", "link_name": "xx_yy", "credential_0": "v"} if method == "post" else None)
    assert response.status_code == 403
    connection = Connection.objects.get(link_name="acme_main")
    assert connection.status == ConnectionStatus.CONNECTED and connection.name == "Acme main"
    assert Connection.objects.count() == 1 and CustomService.objects.count() == 1


@pytest.mark.parametrize("method, path", [
    ("post", "/connections/new/"), ("get", "/services/acme_crm/edit/"), ("post", "/services/acme_crm/edit/"),
    ("get", "/services/acme_crm/delete/"), ("post", "/services/acme_crm/delete/"),
    ("get", "/services/zoho/client/"), ("post", "/services/zoho/client/"),
])
def test_developer_cannot_manage_services(web, acme_service, method, path):
    developer = web(Role.DEVELOPER)
    response = getattr(developer, method)(path, custom_form() if method == "post" else None)
    assert response.status_code == 403
    assert CustomService.objects.count() == 1


def test_developer_sees_the_custom_tab_explained_not_the_form(web):
    page = web(Role.DEVELOPER).get("/connections/new/?tab=custom").content.decode()
    assert "Only admins" in page and 'name="service_name"' not in page


# -- tenant isolation ---------------------------------------------------------------------------
@pytest.mark.parametrize("method, path", [
    ("get", "/connections/globex_main/"), ("get", "/connections/globex_main/edit/"),
    ("post", "/connections/globex_main/edit/"), ("post", "/connections/globex_main/test/"),
    ("post", "/connections/globex_main/reconnect/"), ("get", "/connections/globex_main/revoke/"),
    ("post", "/connections/globex_main/revoke/"), ("get", "/connections/globex_main/delete/"),
    ("post", "/connections/globex_main/delete/"), ("get", "/services/globex_api/edit/"),
    ("post", "/services/globex_api/delete/"), ("get", "/services/globex_api/client/"),
    ("get", "/connections/new/globex_api/"), ("post", "/connections/new/globex_api/"),
])
def test_another_organisations_link_names_are_not_found(admin_web, other_connection, method, path):
    response = getattr(admin_web, method)(path, {"name": "Mine now", "link_name": "mine"} if method == "post" else None)
    assert response.status_code == 404
    assert b"globex-secret" not in response.content and b"Globex secret" not in response.content
    other_connection.refresh_from_db()
    assert other_connection.status == ConnectionStatus.CONNECTED and other_connection.name == "Globex secret"


def test_lists_show_only_this_organisation(admin_web, acme_connection, other_connection):
    assert b"globex" not in admin_web.get("/").content.lower()
    assert b"globex" not in admin_web.get("/services/").content.lower()
    assert b"globex" not in admin_web.get("/connections/new/").content.lower()


# -- CSRF ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("path, data", [
    ("/connections/new/openai/", {"name": "AI", "link_name": "main_ai", "credential_0": "Bearer sk-000000000000"}),
    ("/connections/new/", custom_form()),
    ("/connections/acme_main/edit/", {"name": "Renamed"}),
    ("/connections/acme_main/test/", {}),
    ("/connections/acme_main/revoke/", {}),
    ("/connections/acme_main/delete/", {}),
    ("/services/acme_crm/delete/", {}),
    ("/services/zoho/client/", {"client_id": "id", "client_secret": "secret"}),
    ("/tokens/", {"name": "t"}),
    ("/organisation/", {"organisation": "1"}),
    ("/logout/", {}),
])
def test_every_form_is_csrf_protected(web, acme_connection, path, data):
    client = web(Role.ADMIN, enforce_csrf_checks=True)
    response = client.post(path, data)
    assert response.status_code == 403
    connection = Connection.objects.get(link_name="acme_main")
    assert connection.status == ConnectionStatus.CONNECTED and connection.name == "Acme main"
    assert Connection.objects.count() == 1


@pytest.mark.parametrize("path", [
    "/connections/new/openai/", "/connections/new/?tab=custom", "/connections/acme_main/", "/connections/acme_main/edit/",
    "/connections/acme_main/revoke/", "/connections/acme_main/delete/", "/services/acme_crm/edit/",
    "/services/acme_crm/delete/", "/services/zoho/client/", "/tokens/",
])
def test_every_form_carries_the_csrf_token(admin_web, acme_connection, path):
    html = admin_web.get(path).content.decode()
    assert html.count("<form") >= 1
    assert html.count('method="post"') == html.count('name="csrfmiddlewaretoken"')


def test_secret_values_are_never_in_any_page(admin_web, acme_connection):
    for path in PAGES:
        if "check-link-name" in path:
            continue
        assert SECRET not in admin_web.get(path).content.decode(), path


def test_a_page_refused_by_role_leaves_an_audit_event(web, org):
    """Issue 12 point 12: every denial leaves an audit event, pages as well as the API."""
    from connections_app.models import Event

    viewer = web(Role.VIEWER)
    response = viewer.post("/services/zoho/client/", {})
    assert response.status_code == 403
    event = Event.objects.get(organisation=org, action="access.denied")
    assert event.target == "/services/zoho/client/"
    assert event.data == {"code": "permission_denied", "method": "POST", "role": "viewer"}
