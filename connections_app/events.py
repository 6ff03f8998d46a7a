"""Audit events and who acted: the one place an event is recorded (and its webhook queued).

Below the business steps, so every layer that changes something (services, tokens, the
consent flow) records through it without importing the steps themselves.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError

from . import notifications
from .models import Event, Membership, Organisation

logger = logging.getLogger(__name__)


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


def denial_record(*, membership: Membership, method: str, path: str, code: str = "permission_denied") -> None:
    """A member refused by role (API, page or MCP) leaves an ``access.denied`` event in its
    organisation: who, what, where. The answer stays a 403 even when it cannot be written."""
    try:
        event_record(
            organisation=membership.organisation, actor=actor_name(membership.user), action="access.denied",
            target=path[:120], data={"code": code, "method": method, "role": membership.role},
        )
    except DatabaseError:
        logger.warning("audit event for a denial not written")
