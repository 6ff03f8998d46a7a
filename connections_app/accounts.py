"""Business steps the browser pages need beyond ``services``: personal API tokens, the
organisation a user acts in, link-name checks, and a custom service created together with
its first connection.

Plain functions named ``<noun>_<verb>`` with keyword-only arguments, like ``services``.
They raise the domain errors of ``connections_app.errors``; they never return a secret
except the one-time API key from ``services.api_token_create``.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from services_catalog import registry
from services_catalog.schema import LINK_NAME_RE

from . import selectors, services
from .services import RESERVED_CONNECTION_LINK_NAMES
from .errors import Conflict, ConnectionsError, NotFound, ValidationFailed
from .models import Connection, CustomService, Membership

#: Link names the browser UI keeps for itself: ``/connections/new/`` is the create page,
#: so a connection called ``new`` could not have a summary page at ``/connections/new/``.

LINK_NAME_MESSAGE = "Must start with a lower case letter and use only a-z, 0-9 and _ (2 to 50 characters)."


# -- organisations -----------------------------------------------------------------------
def membership_list(*, user) -> QuerySet[Membership]:
    """Return the user's memberships, organisations sorted by name."""
    return Membership.objects.select_related("organisation").filter(user=user).order_by("organisation__name", "organisation__slug")


def organisation_switch(*, user, organisation_id: Any) -> Membership:
    """Return the user's membership in ``organisation_id``; NotFound when not a member.

    The caller stores the organisation in the session; this step only decides whether
    the switch is allowed.
    """
    try:
        pk = int(organisation_id)
    except (TypeError, ValueError):
        raise NotFound("No such organisation.") from None
    membership = membership_list(user=user).filter(organisation_id=pk).first()
    if membership is None:
        raise NotFound("No such organisation.")
    return membership


# -- personal API tokens -----------------------------------------------------------------
# One implementation for the pages, the API and MCP: the steps live in selectors/services.
api_token_list = selectors.api_token_list
api_token_revoke = services.api_token_revoke


# -- link names --------------------------------------------------------------------------
def link_name_check(*, organisation, link_name: Any, kind: str = "connection") -> dict:
    """Say whether ``link_name`` is well formed and free for a connection or a custom service.

    Returns ``{"link_name", "valid", "available", "message"}``; used to validate as you type.
    """
    value = link_name if isinstance(link_name, str) else ""
    result = {"link_name": value, "valid": False, "available": False, "message": LINK_NAME_MESSAGE}
    if not LINK_NAME_RE.match(value):
        return result
    result["valid"] = True
    if kind == "service":
        taken = registry.get(value) is not None or CustomService.objects.filter(organisation=organisation, link_name=value).exists()
        message = "Another service already uses this link name."
    else:
        taken = value in RESERVED_CONNECTION_LINK_NAMES or Connection.objects.filter(
            organisation=organisation, link_name=value
        ).exists()
        message = (
            "This link name is reserved." if value in RESERVED_CONNECTION_LINK_NAMES
            else "Another connection already uses this link name."
        )
    result["available"] = not taken
    result["message"] = "Available." if not taken else message
    return result


# -- a custom service and its first connection -------------------------------------------
def _prefixed(exc: ConnectionsError, prefix: str, default_field: str) -> ConnectionsError:
    """Return the same kind of error with its fields under ``prefix`` (or on ``default_field``)."""
    fields = {f"{prefix}{k}": v for k, v in (exc.fields or {}).items()} or {default_field: [exc.message]}
    return type(exc)(exc.message, fields=fields, headers=exc.headers)


def custom_service_connect(
    *, organisation, actor, service_data: dict, name: Any, link_name: Any,
    scopes: Any = None, credentials: Any = None,
) -> tuple[CustomService, Connection, str | None]:
    """Create a custom service and a connection to it in one transaction.

    Either both are stored or neither is. Errors of the service step carry fields named
    ``service.<field>`` (``service.link_name``, ``service.oauth2.token_url``, ...); errors
    of the connection step carry the connection's own field names (``link_name``,
    ``credentials.<key>``, ...). Returns the service, the connection and, for OAuth, the
    one-time authorize URL.
    """
    with transaction.atomic():
        try:
            custom = services.custom_service_create(
                organisation=organisation, actor=actor, definition=services.custom_service_parse(service_data)
            )
        except (ValidationFailed, Conflict) as exc:
            raise _prefixed(exc, "service.", "service.link_name") from None
        try:
            connection, authorize_url = services.connection_create(
                organisation=organisation, actor=actor, name=name, link_name=link_name, service=custom.link_name,
                scopes=scopes, credentials=credentials,
            )
        except Conflict as exc:
            raise _prefixed(exc, "", "link_name") from None
    return custom, connection, authorize_url
