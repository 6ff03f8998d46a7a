"""Every route that takes a link name, walked from the URL map (so a new route is covered
the day it is added): another organisation gets ``not_found`` and changes nothing, and a
viewer cannot write."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from connections_app.models import Connection, CustomService, Event, Role, ServiceClient

pytestmark = pytest.mark.django_db

WRITE_METHODS = ("post", "put", "patch", "delete")
VICTIM = "victim_link"


def link_name_routes() -> list[tuple[str, list[str]]]:
    """(url name, link-name kwargs) for every named route whose pattern takes a link name."""
    found = []

    def walk(patterns, namespace=""):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, f"{namespace}{entry.namespace}:" if entry.namespace else namespace)
            elif isinstance(entry, URLPattern) and entry.name:
                kwargs = list(entry.pattern.regex.groupindex)
                if kwargs and all(k.endswith("link_name") for k in kwargs):
                    found.append((namespace + entry.name, kwargs))

    walk(get_resolver().url_patterns)
    return sorted(set((name, tuple(kwargs)) for name, kwargs in found))


ROUTES = link_name_routes()


def test_the_walk_finds_the_routes_we_know():
    names = {name for name, _ in ROUTES}
    assert {"api:connection-detail", "api:service-detail", "api:service-client", "api:connection-reconnect",
            "api:connection-logs", "api:connection-refresh", "api:connection-test", "api:connection-revoke",
            "connection-detail"} <= names


@pytest.fixture
def victim(org, member_client):
    admin = member_client(org, Role.ADMIN, username="victim-admin")
    admin.post("/api/v1/services/", {
        "link_name": VICTIM, "name": "Victim", "auth_type": "api_key", "parameters": [{"key": "X-Key", "display_name": "Key"}],
        "base_url": "https://api.victim.example",
    }, format="json")
    admin.post("/api/v1/connections/", {"name": "Victim", "link_name": VICTIM, "service": VICTIM, "credentials": {"X-Key": "victim-secret-value"}}, format="json")
    return org


def snapshot(organisation):
    return (
        list(Connection.objects.filter(organisation=organisation).values()),
        list(CustomService.objects.filter(organisation=organisation).values()),
        list(ServiceClient.objects.filter(organisation=organisation).values()),
        # A denial leaves its own audit event (access.denied); nothing else may appear.
        Event.objects.filter(organisation=organisation).exclude(action="access.denied").count(),
    )


def as_browser(member_client, organisation, role):
    api = member_client(organisation, role, username=f"{role}-browser-{organisation.slug}")
    browser = Client()
    browser.force_login(api.user)
    return browser


@pytest.mark.parametrize("name, kwargs", ROUTES, ids=[name for name, _ in ROUTES])
def test_another_organisation_gets_not_found_and_changes_nothing(victim, other_org, member_client, name, kwargs):
    outsider = as_browser(member_client, other_org, Role.ADMIN)
    url = reverse(name, kwargs={k: VICTIM for k in kwargs})
    before = snapshot(victim)
    for method in ("get", *WRITE_METHODS):
        response = getattr(outsider, method)(url, {}, content_type="application/json") if method != "get" else outsider.get(url)
        assert response.status_code in (404, 405), f"{method.upper()} {url} answered {response.status_code}"
        if response.status_code == 404 and url.startswith("/api/"):
            assert response.json()["error"]["code"] == "not_found"
    assert snapshot(victim) == before


@pytest.mark.parametrize("name, kwargs", ROUTES, ids=[name for name, _ in ROUTES])
def test_a_viewer_cannot_write(victim, member_client, name, kwargs):
    viewer = as_browser(member_client, victim, Role.VIEWER)
    url = reverse(name, kwargs={k: VICTIM for k in kwargs})
    before = snapshot(victim)
    for method in WRITE_METHODS:
        response = getattr(viewer, method)(url, {}, content_type="application/json")
        assert response.status_code in (403, 405), f"{method.upper()} {url} answered {response.status_code}"
    assert snapshot(victim) == before


API_WRITE_ROUTES = [
    ("post", "/api/v1/services/"), ("post", "/api/v1/connections/"), ("post", "/api/v1/invoke/"), ("put", "/api/v1/webhook/"),
    ("delete", "/api/v1/webhook/"),
]


@pytest.mark.parametrize("method, url", API_WRITE_ROUTES)
def test_a_viewer_cannot_use_collection_write_routes(victim, member_client, method, url):
    viewer = member_client(victim, Role.VIEWER, username="viewer-collections")
    before = snapshot(victim)
    response = getattr(viewer, method)(url, {"connection": VICTIM, "url": "/x"}, format="json")
    assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"
    assert snapshot(victim) == before
