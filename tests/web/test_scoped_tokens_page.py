"""The API tokens page creates scoped tokens (connections, actions, expiry) and shows them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from connections_app.models import ApiToken, Role

pytestmark = pytest.mark.django_db


def test_create_a_scoped_token_in_the_browser(admin_web, acme_connection):
    page = admin_web.get("/tokens/").content.decode()
    assert 'name="connections"' in page and 'value="invoke"' in page and 'name="expires_in"' in page
    response = admin_web.post("/tokens/", {
        "name": "claude", "connections": [acme_connection.link_name], "actions": ["read", "invoke"], "expires_in": "7",
    })
    assert response.status_code == 302  # POST/redirect/GET: the key is shown once, from the session
    response = admin_web.get(response["Location"])
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    html = response.content.decode()
    key = re.search(r'data-testid="token">([^<]+)<', html).group(1)
    assert "/mcp" in html
    token = ApiToken.objects.get(name="claude")
    assert token.connections == [acme_connection.link_name] and token.actions == ["read", "invoke"]
    assert timedelta(days=6) < token.expires_at - timezone.now() <= timedelta(days=7)
    listing = admin_web.get("/tokens/").content.decode()
    assert "read, invoke" in listing and key not in listing


def test_the_page_refuses_more_than_the_role(web, acme_connection):
    viewer = web(Role.VIEWER)
    response = viewer.post("/tokens/", {"name": "too much", "actions": ["invoke"]})
    assert response.status_code == 400 and "does not allow" in response.content.decode()
    assert not ApiToken.objects.filter(name="too much").exists()
