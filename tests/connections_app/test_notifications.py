"""Webhooks: set, signed delivery of status events, shown-once secret, admin only."""

import hashlib
import hmac
import json

import pytest

from connections_app import notifications
from connections_app.models import Event

pytestmark = pytest.mark.django_db


def test_webhook_secret_is_shown_once_and_admin_only(admin, developer):
    assert developer.put("/api/v1/webhook/", {"url": "https://hooks.example/x"}, format="json").status_code == 403
    created = admin.put("/api/v1/webhook/", {"url": "https://hooks.example/x"}, format="json").json()
    assert created["secret"].startswith("whsec_")
    shown = admin.get("/api/v1/webhook/").json()
    assert shown == {"url": "https://hooks.example/x", "has_secret": True}
    assert created["secret"] not in str(admin.get("/api/v1/events/").json())
    assert admin.put("/api/v1/webhook/", {"url": "ftp://x"}, format="json").status_code == 400
    assert admin.delete("/api/v1/webhook/").status_code == 204
    assert admin.get("/api/v1/webhook/").json()["url"] is None


def test_delivery_is_signed(admin, upstream, org, django_capture_on_commit_callbacks):
    secret = admin.put("/api/v1/webhook/", {"url": f"{upstream.url}/anything"}, format="json").json()["secret"]
    org.refresh_from_db()
    event = Event.objects.create(organisation=org, actor="system", action="connection.needs_reauth", target="acme_main", data={"reason": "x"})
    assert notifications.deliver(event) == 200
    sent = upstream.requests[-1]
    assert sent["headers"]["Connections-Event"] == "connection.needs_reauth"
    timestamp, signature = [part.split("=", 1)[1] for part in sent["headers"]["Connections-Signature"].split(",")]
    body = notifications.payload(event)
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature, expected)
    assert json.loads(body)["data"]["connection"] == "acme_main"


def test_status_events_are_queued_after_commit(admin, org, monkeypatch, django_capture_on_commit_callbacks):
    admin.put("/api/v1/webhook/", {"url": "https://hooks.example/x"}, format="json")
    queued = []
    from connections_app import notifications, tasks

    # Queued by name (notifications sits below the tasks): the name must be the task's.
    monkeypatch.setattr(notifications.current_app, "send_task", lambda name, args, **kw: queued.append((name, args[0])))
    org.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        from connections_app.events import event_record

        event_record(organisation=org, actor="system", action="connection.revoked", target="c1")
        event_record(organisation=org, actor="system", action="connection.created", target="c1")
    assert len(queued) == 1 and queued[0][0] == tasks.deliver_webhook.name
    assert Event.objects.get(pk=queued[0][1]).action == "connection.revoked"


def test_broker_down_does_not_fail_the_action(admin, org, monkeypatch, django_capture_on_commit_callbacks):
    admin.put("/api/v1/webhook/", {"url": "https://hooks.example/x"}, format="json")
    from connections_app import notifications

    def broken(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(notifications.current_app, "send_task", broken)
    org.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        from connections_app.events import event_record

        event_record(organisation=org, actor="system", action="connection.revoked", target="c1")
    assert Event.objects.filter(action="connection.revoked").exists()
