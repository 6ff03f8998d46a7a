"""Business steps for API tokens, memberships and organisations."""

from __future__ import annotations

import secrets
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from services_catalog import registry
from services_catalog.schema import LINK_NAME_MESSAGE, LINK_NAME_RE

from ..errors import (
    Conflict,
    ConnectionsError,
    NotFound,
    ValidationFailed,
)
from ..events import actor_name, event_record
from ..models import (
    ApiToken,
    Connection,
    CustomService,
    Membership,
    Organisation,
    sha256_hex,
)
from ..token_limits import ACTIONS, ROLE_ACTIONS, token_within
from .connections import connection_create
from .custom_services import custom_service_create, custom_service_parse
from .validation import NAME_MAX, RESERVED_CONNECTION_LINK_NAMES


def api_token_create(
    *, membership: Membership, name: Any = "", connections: Any = None, actions: Any = None, expires_at: Any = None,
    parent: ApiToken | None = None,
) -> tuple[ApiToken, str]:
    """Create an API token; the key is returned once and only its hash is stored.

    ``connections`` (link names), ``actions`` (read, invoke, manage) and ``expires_at``
    limit it; ``None`` leaves each unlimited, within the member's role. ``parent`` is the
    token the request creating this one authenticated with: the new token never has more
    than it (its limits are inherited where none are given) nor than the role allows.
    """
    if name is None:
        name = ""
    if not isinstance(name, str) or len(name.strip()) > NAME_MAX:
        raise ValidationFailed.field("name", f"A text of at most {NAME_MAX} characters.")
    if parent is not None:
        connections = parent.connections if connections is None else connections
        actions = parent.actions if actions is None else actions
        expires_at = parent.expires_at if expires_at is None else expires_at
    connections = _check_token_connections(membership, connections, parent)
    actions = _check_token_actions(membership, actions, parent)
    if expires_at is not None:
        if not hasattr(expires_at, "tzinfo") or expires_at <= timezone.now():
            raise ValidationFailed.field("expires_at", "Must be a date and time in the future.")
        if parent is not None and parent.expires_at is not None and expires_at > parent.expires_at:
            raise ValidationFailed.field("expires_at", "Cannot outlive the token this request uses.")
    key = "cnx_" + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        membership=membership, name=name.strip(), key_hash=sha256_hex(key), prefix=key[:10],
        connections=connections, actions=actions, expires_at=expires_at,
    )
    event_record(
        organisation=membership.organisation, actor=actor_name(membership.user), action="token.created",
        target=token.prefix, data={
            "role": membership.role, "name": token.name, "connections": connections, "actions": actions,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return token, key


def _check_token_connections(membership: Membership, value: Any, parent: ApiToken | None) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValidationFailed.field("connections", "A non-empty list of connection link names, or null for all.")
    wanted = sorted(set(value))
    if parent is not None and parent.connections is not None:
        wider = [v for v in wanted if v not in parent.connections]
        if wider:  # named before existence is checked: a limited token learns nothing of the rest
            raise ValidationFailed.field("connections", f"Outside the token this request uses: {', '.join(wider)}.")
    found = set(
        Connection.objects.filter(organisation=membership.organisation, link_name__in=wanted).values_list("link_name", flat=True)
    )
    missing = [v for v in wanted if v not in found]
    if missing:
        raise ValidationFailed.field("connections", f"No such connection: {', '.join(missing)}.")
    return wanted


def _check_token_actions(membership: Membership, value: Any, parent: ApiToken | None) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(v in ACTIONS for v in value):
        raise ValidationFailed.field("actions", f"A non-empty list of {', '.join(ACTIONS)}; or null for all the role allows.")
    role_allows = ROLE_ACTIONS[membership.role]
    beyond = [v for v in ACTIONS if v in value and v not in role_allows]
    if beyond:
        raise ValidationFailed.field("actions", f"The role {membership.role} does not allow: {', '.join(beyond)}.")
    if parent is not None and parent.actions is not None:
        wider = [v for v in ACTIONS if v in value and v not in parent.actions]
        if wider:
            raise ValidationFailed.field("actions", f"Outside the token this request uses: {', '.join(wider)}.")
    return [v for v in ACTIONS if v in value]


def api_token_revoke(*, membership: Membership, token_id: Any, parent: ApiToken | None = None) -> None:
    """Delete one of the membership's tokens. Another member's token, or one wider than
    ``parent`` (the token the request uses), is NotFound."""
    try:
        pk = int(token_id)
    except (TypeError, ValueError):
        raise NotFound("No such token.") from None
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().filter(membership=membership, pk=pk).first()
        if token is None or not token_within(token, parent):
            raise NotFound("No such token.")
        prefix = token.prefix
        token.delete()
        event_record(
            organisation=membership.organisation, actor=actor_name(membership.user), action="token.revoked", target=prefix
        )


def membership_ensure(*, username: str, org_slug: str, role: str | None, create: bool, password: str | None = None) -> Membership:
    """Return the user's membership in the organisation, creating what is missing if asked."""
    from django.contrib.auth import get_user_model  # noqa: PLC0415

    User = get_user_model()
    with transaction.atomic():
        user = User.objects.filter(username=username).first()
        organisation = Organisation.objects.filter(slug=org_slug).first()
        if not create and (user is None or organisation is None):
            raise NotFound("No such user or organisation; pass --create to create them.")
        if user is None:
            user = User.objects.create_user(username=username, password=password)
        if organisation is None:
            organisation = Organisation.objects.create(slug=org_slug, name=org_slug)
        membership = Membership.objects.filter(user=user, organisation=organisation).first()
        if membership is None:
            if not create:
                raise NotFound(f"{username} is not a member of {org_slug}; pass --create to add them.")
            membership = Membership.objects.create(user=user, organisation=organisation, role=role or "developer")
        elif role and membership.role != role:
            membership.role = role
            membership.save(update_fields=["role"])
    return membership


# -- the signed-in person's organisations, and the pages' composite steps ---------------
#: Link names the browser UI keeps for itself: ``/connections/new/`` is the create page,
#: so a connection called ``new`` could not have a summary page at ``/connections/new/``.



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
            custom = custom_service_create(
                organisation=organisation, actor=actor, definition=custom_service_parse(service_data)
            )
        except (ValidationFailed, Conflict) as exc:
            raise _prefixed(exc, "service.", "service.link_name") from None
        try:
            connection, authorize_url = connection_create(
                organisation=organisation, actor=actor, name=name, link_name=link_name, service=custom.link_name,
                scopes=scopes, credentials=credentials,
            )
        except Conflict as exc:
            raise _prefixed(exc, "", "link_name") from None
    return custom, connection, authorize_url
