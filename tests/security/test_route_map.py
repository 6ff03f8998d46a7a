"""Every route that takes a link name, walked from the URL map (so a new route is covered
the day it is added): another organisation gets ``not_found`` and changes nothing, and a
viewer cannot write. Every API route, walked the same way, honours a scoped API token's
limits: a connection outside it is ``not_found``, an action outside it
``permission_denied``, an expired token ``not_authenticated``; nothing changes."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from connections_app.models import ApiToken, Connection, CustomService, Event, Role, ServiceClient
from connections_app.services import api_token_create, membership_ensure

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


# -- scoped API tokens: every API route × token limits -------------------------------------
OTHER = "other_link"
METHODS = ("get", "post", "put", "patch", "delete")
PUBLIC_API_ROUTES = {"api:schema"}  # no authentication at all


def api_routes() -> list[tuple[str, tuple[str, ...]]]:
    """(url name, kwargs) for every named route of the API."""
    found = []

    def walk(patterns, namespace=""):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, f"{namespace}{entry.namespace}:" if entry.namespace else namespace)
            elif isinstance(entry, URLPattern) and entry.name and namespace == "api:":
                found.append((namespace + entry.name, tuple(entry.pattern.regex.groupindex)))

    walk(get_resolver().url_patterns)
    return sorted(set(found) - {(n, k) for n, k in found if n in PUBLIC_API_ROUTES})


API_ROUTES = api_routes()
CONNECTION_ROUTES = [(n, k) for n, k in API_ROUTES if n.startswith("api:connection-") and "link_name" in k]


def test_the_api_walk_finds_the_routes_we_know():
    names = {name for name, _ in API_ROUTES}
    assert {"api:invoke", "api:token-list", "api:token-detail", "api:event-list", "api:webhook",
            "api:connection-list", "api:connection-detail", "api:service-client"} <= names
    assert len(CONNECTION_ROUTES) >= 6


def scoped_client(organisation, *, connections=None, actions=None, expires_at=None, role=Role.ADMIN):
    membership = membership_ensure(username=f"scoped-{role}", org_slug=organisation.slug, role=role, create=True)
    token, key = api_token_create(membership=membership, connections=connections, actions=actions)
    if expires_at is not None:
        ApiToken.objects.filter(pk=token.pk).update(expires_at=expires_at)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    client.token_id = token.pk
    return client


def full_snapshot(organisation):
    return (*snapshot(organisation), ApiToken.objects.count(), organisation.__class__.objects.get(pk=organisation.pk).webhook_url)


def url_for(name, kwargs, token_id):
    return reverse(name, kwargs={k: (VICTIM if k.endswith("link_name") else token_id) for k in kwargs})


@pytest.fixture
def victim_and_other(victim, member_client):
    admin = member_client(victim, Role.ADMIN, username="victim-admin")
    admin.post("/api/v1/connections/", {"name": "Other", "link_name": OTHER, "service": VICTIM, "credentials": {"X-Key": "other-secret-value"}}, format="json")
    return victim


@pytest.mark.parametrize("name, kwargs", CONNECTION_ROUTES, ids=[name for name, _ in CONNECTION_ROUTES])
def test_a_token_limited_to_other_connections_gets_not_found_and_changes_nothing(victim_and_other, name, kwargs):
    client = scoped_client(victim_and_other, connections=[OTHER])
    url = url_for(name, kwargs, client.token_id)
    before = full_snapshot(victim_and_other)
    for method in METHODS:
        response = getattr(client, method)(url, {}, format="json")
        assert response.status_code in (404, 405), f"{method.upper()} {url} answered {response.status_code}"
        if response.status_code == 404:
            assert response.json()["error"]["code"] == "not_found"
    assert full_snapshot(victim_and_other) == before


def test_a_token_limited_to_other_connections_cannot_reach_it_through_collections(victim_and_other):
    client = scoped_client(victim_and_other, connections=[OTHER])
    before = full_snapshot(victim_and_other)
    assert [c["link_name"] for c in client.get("/api/v1/connections/").json()["results"]] == [OTHER]
    assert VICTIM not in {e["target"] for e in client.get("/api/v1/events/").json()["results"]}
    response = client.post("/api/v1/invoke/", {"connection": VICTIM, "url": "/x"}, format="json")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    response = client.post("/api/v1/connections/", {"name": "V", "link_name": "victim_two", "service": VICTIM}, format="json")
    assert response.status_code == 403
    assert full_snapshot(victim_and_other) == before


def each_method(victim_and_other, name, kwargs, skip=(), **token):
    """Call the route with every method (but ``skip``) under a token made with ``token``
    (``scoped_client``'s limits), yielding (method, url, response); once all are made,
    check that nothing changed."""
    client = scoped_client(victim_and_other, **token)
    url = url_for(name, kwargs, client.token_id)
    before = full_snapshot(victim_and_other)
    for method in METHODS:
        if method not in skip:
            body = {"connection": VICTIM, "url": "/x"} if name == "api:invoke" else {}
            yield method, url, getattr(client, method)(url, body, format="json")
    assert full_snapshot(victim_and_other) == before


@pytest.mark.parametrize("name, kwargs", API_ROUTES, ids=[name for name, _ in API_ROUTES])
def test_a_read_only_token_reads_but_never_writes(victim_and_other, name, kwargs):
    for method, url, response in each_method(victim_and_other, name, kwargs, actions=["read"]):
        if method == "get":
            assert response.status_code in (200, 405), f"GET {url} answered {response.status_code}"
        else:
            assert response.status_code in (403, 405), f"{method.upper()} {url} answered {response.status_code}"
            if response.status_code == 403:
                assert response.json()["error"]["code"] == "permission_denied"


@pytest.mark.parametrize("name, kwargs", API_ROUTES, ids=[name for name, _ in API_ROUTES])
def test_an_invoke_only_token_neither_reads_nor_manages(victim_and_other, name, kwargs):
    # POST is what the token is for on invoke and test (invoke's own tests call them).
    skip = ("post",) if name in ("api:invoke", "api:connection-test") else ()
    for method, url, response in each_method(victim_and_other, name, kwargs, skip, actions=["invoke"]):
        assert response.status_code in (403, 405), f"{method.upper()} {url} answered {response.status_code}"


@pytest.mark.parametrize("name, kwargs", API_ROUTES, ids=[name for name, _ in API_ROUTES])
def test_an_expired_token_is_refused_everywhere(victim_and_other, name, kwargs):
    for method, url, response in each_method(victim_and_other, name, kwargs, expires_at=timezone.now()):
        assert response.status_code in (401, 405), f"{method.upper()} {url} answered {response.status_code}"
