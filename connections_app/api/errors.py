"""Every API error is ``{"error": {"code", "message", "fields"?}}`` with the contract's codes."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response

from .. import errors as domain_errors
from ..crypto import EncryptionKeyUnavailable
from ..errors import ConnectionsError, KeyUnavailable, ServiceUnavailable
from .fields import UNKNOWN

logger = logging.getLogger(__name__)

DRF_CODES = [
    (exceptions.NotAuthenticated, "not_authenticated", 401),
    (exceptions.AuthenticationFailed, "not_authenticated", 401),
    (exceptions.PermissionDenied, "permission_denied", 403),
    (exceptions.NotFound, "not_found", 404),
    (exceptions.MethodNotAllowed, "method_not_allowed", 405),
    (exceptions.NotAcceptable, "not_acceptable", 406),
    (exceptions.UnsupportedMediaType, "validation_error", 415),
    (exceptions.Throttled, "throttled", 429),
    (exceptions.ParseError, "validation_error", 400),
    (exceptions.ValidationError, "validation_error", 400),
]


#: Every ``code`` an API error can carry (the schema's enum): the domain errors', DRF's
#: (as mapped above), and ``server_error`` (the 500 page, web/views.server_error).
ERROR_CODES = tuple(dict.fromkeys([
    *(kind.code for kind in vars(domain_errors).values()
      if isinstance(kind, type) and issubclass(kind, ConnectionsError) and kind is not ConnectionsError),
    *(code for _kind, code, _status in DRF_CODES), "service_unavailable", "server_error",
]))


def validation_message(fields: dict[str, list[str]], codes: dict[str, list[str]]) -> str:
    """Only unknown fields: "Unknown fields."; one failing field reads as
    ``ValidationFailed.field`` writes it; several, in general."""
    if {code for field_codes in codes.values() for code in field_codes} == {UNKNOWN}:
        return "Unknown fields."
    if len(fields) == 1:
        (name, messages), = fields.items()
        if len(messages) == 1:
            return f"{name}: {messages[0]}"
    return "Some fields are missing or not valid."


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    error = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out.update(_flatten(value, name))
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            out[prefix or "non_field_errors"] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                out.update(_flatten(item, f"{prefix}[{index}]"))
    else:
        out[prefix or "non_field_errors"] = [str(detail)]
    return out


def exception_handler(exc, context):
    if isinstance(exc, EncryptionKeyUnavailable):
        exc = KeyUnavailable()
    elif isinstance(exc, (OperationalError, InterfaceError)):
        logger.warning("database unavailable: %s", type(exc).__name__)
        exc = ServiceUnavailable("The database is unavailable; retry later.")
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, ConnectionsError):
        response = Response(error_body(exc.code, exc.message, exc.fields), status=exc.status)
        for key, value in exc.headers.items():
            response[key] = value
        if exc.code == "permission_denied":
            _audit_denial(context, exc.code)
        return response
    for kind, code, status in DRF_CODES:
        if isinstance(exc, kind):
            if code == "permission_denied":
                _audit_denial(context, code)
            if isinstance(exc, exceptions.ValidationError):
                fields = _flatten(exc.detail)
                message = validation_message(fields, _flatten(exc.get_codes()))
            else:
                fields = None
                message = str(exc.detail) if hasattr(exc, "detail") else str(exc)
            response = Response(error_body(code, message, fields), status=status)
            if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
                response["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
            if status == 401:
                response["WWW-Authenticate"] = "Token"
            return response
    if isinstance(exc, DatabaseError):
        logger.exception("database error")
        return Response(error_body("service_unavailable", "The database could not complete the request."), status=503)
    return None


def _audit_denial(context, code: str) -> None:
    """A member refused by role leaves an audit event in its organisation (who, what, where)."""
    from ..models import Membership  # noqa: PLC0415
    from ..services import actor_name, event_record  # noqa: PLC0415

    request = context.get("request")
    membership = getattr(request, "auth", None)
    if not isinstance(membership, Membership):
        return
    try:
        event_record(
            organisation=membership.organisation, actor=actor_name(membership.user), action="access.denied",
            target=request.path[:120], data={"code": code, "method": request.method, "role": membership.role},
        )
    except DatabaseError:  # the answer stays a 403 even when the trail cannot be written
        logger.warning("audit event for a denial not written")

