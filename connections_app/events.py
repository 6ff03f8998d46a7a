"""Audit events and who acted: the one place an event is recorded (and its webhook queued).

Below the business steps, so every layer that changes something (services, tokens, the
consent flow) records through it without importing the steps themselves.
"""

from __future__ import annotations

from . import notifications
from .models import Event, Organisation


def event_record(*, organisation: Organisation, actor: str, action: str, target: str = "", data: dict | None = None) -> Event:
    """Record an audit event. ``data`` must never hold a secret. An ``actor`` from
    ``actor_name`` also names the API token used, if any."""
    event = Event.objects.create(
        organisation=organisation, actor=actor or "", token=getattr(actor, "token", ""), action=action, target=target,
        data=data or {},
    )
    notifications.event_dispatch(event)
    return event


class ActorName(str):
    """Who acted, as events and logs name them; ``token`` is the label of the API token
    they acted with ("" for a browser session, a command or the system)."""

    token: str = ""


def actor_name(actor) -> str:
    """The name events and logs record for ``actor`` (a user, or a word such as "system").
    A user authenticated with an API token carries it (``api_token``, set by the API's
    authentication and by MCP), and the name returned carries the token's label."""
    if isinstance(actor, ActorName):
        return actor
    name = ActorName(getattr(actor, "username", None) or (actor if isinstance(actor, str) else ""))
    token = getattr(actor, "api_token", None)
    if token is not None:
        name.token = token.label
    return name
