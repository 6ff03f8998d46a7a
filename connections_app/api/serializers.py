"""Serializers: input and output apart. Output never carries a secret; input secrets are
write-only. Input serializers (``StrictInput``, fields.py) check shape and types and refuse
unknown fields; views hand their ``validated_data`` to the business functions, which check
meaning (a service exists, a scope is the service's, a credential is the strategy's)."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers


from .. import selectors, snippets
from ..auth.registry import AUTH_TYPES
from ..errors import NotFound
from ..invoke import MAX_RETRIES, METHODS
from ..models import Connection, ConnectionStatus, Event, InvocationLog, ServiceClient
from ..services import NAME_MAX
from .errors import ERROR_CODES
from .fields import (
    REQUIRED,
    FullMatch,
    LinkName,
    Number,
    StrictInput,
    Text,
    TextList,
    TextMap,
    WholeNumber,
    required_text,
)


# -- connections ---------------------------------------------------------------------------
SCOPES_MESSAGE = "Must be a list of scope names."
CREDENTIALS_MESSAGE = "Must be an object of credential values."
# Not only white space; the name is stored stripped (services.connection_create).
NOT_BLANK = RegexValidator(r"\S", message=REQUIRED)


def query_choice(choices) -> serializers.ChoiceField:
    """An enumerated filter: absent means no filter; anything else must be a choice."""
    message = f"Must be one of: {', '.join(choices)}."
    return serializers.ChoiceField(choices=list(choices), required=False, error_messages={"invalid_choice": message, "blank": message})


class ConnectionServiceSerializer(serializers.Serializer):
    link_name = serializers.CharField()
    name = serializers.CharField()
    auth_type = serializers.CharField()


class SnippetsSerializer(serializers.Serializer):
    deluge = serializers.CharField()
    curl = serializers.CharField()
    python = serializers.CharField()
    javascript = serializers.CharField()


def _iso(value):
    return value.isoformat().replace("+00:00", "Z") if value else None


class ConnectionOutSerializer(serializers.Serializer):
    link_name = serializers.CharField()
    name = serializers.CharField()
    service = ConnectionServiceSerializer()
    status = serializers.ChoiceField(choices=ConnectionStatus.choices)
    scopes = serializers.ListField(child=serializers.CharField())
    config = serializers.DictField(child=serializers.CharField())
    credentials_hint = serializers.CharField(allow_null=True)
    created_by = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    connected_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    last_refreshed_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    refresh_retry_at = serializers.DateTimeField(allow_null=True, help_text="After a failed refresh: when the next try is due.")
    snippets = SnippetsSerializer(required=False)

    def to_representation(self, connection: Connection) -> dict:
        try:
            service = selectors.connection_service(connection)
        except NotFound:
            # Its catalog file was removed: still list the connection, say so, no snippets.
            service = None
        data = {
            "link_name": connection.link_name,
            "name": connection.name,
            "service": (
                {"link_name": service.link_name, "name": service.name, "auth_type": service.auth_type}
                if service
                else {"link_name": connection.service_link_name, "name": f"{connection.service_link_name} (not in the catalog)", "auth_type": "unknown"}
            ),
            "status": connection.status,
            "scopes": list(connection.scopes or []),
            "config": dict(connection.config or {}),
            "credentials_hint": f"…{connection.credentials_hint}" if connection.credentials_hint else None,
            "created_by": connection.created_by_name,  # annotated by the selectors
            "created_at": _iso(connection.created_at),
            "connected_at": _iso(connection.connected_at),
            "expires_at": _iso(connection.expires_at),
            "last_refreshed_at": _iso(connection.last_refreshed_at),
            "last_used_at": _iso(getattr(connection, "last_used_at", None)),
            "error": connection.error or None,
            "refresh_retry_at": _iso(connection.refresh_retry_at),
        }
        if self.context.get("with_snippets", True) and service is not None:
            data["snippets"] = snippets.build(
                link_name=connection.link_name, url=snippets.sample_url(service), base_url=settings.CONNECTIONS_BASE_URL
            )
        return data


class ConnectionCreateSerializer(StrictInput):
    """A new connection; ``credentials`` for API-key and Basic services, ``config`` where the
    service declares config fields. Unknown fields are refused."""

    name = required_text(max_length=NAME_MAX, validators=[NOT_BLANK], error_messages={"max_length": f"At most {NAME_MAX} characters."})
    link_name = LinkName()
    service = required_text(help_text="The link name of a preconfigured or custom service.")
    scopes = TextList(required=False, allow_null=True, error_messages={"invalid": SCOPES_MESSAGE})
    credentials = serializers.DictField(
        child=Text(allow_null=True, allow_blank=True), required=False, allow_null=True, write_only=True,
        error_messages={"not_a_dict": CREDENTIALS_MESSAGE},
    )
    config = serializers.DictField(
        child=Text(allow_null=True, allow_blank=True), required=False, allow_null=True, error_messages={"not_a_dict": "Must be an object."}
    )


class ConnectionUpdateSerializer(StrictInput):
    """The fields to change; the others are kept. Unknown fields are refused."""

    unknown_field_message = "This field cannot be changed."

    link_name = Text(required=False, help_text="Accepted only unchanged: a connection's link name never changes.")
    name = required_text(
        required=False, max_length=NAME_MAX, validators=[NOT_BLANK], error_messages={"max_length": f"At most {NAME_MAX} characters."}
    )
    scopes = TextList(required=False, allow_null=True, error_messages={"invalid": SCOPES_MESSAGE})
    credentials = serializers.DictField(
        child=Text(allow_null=True, allow_blank=True), required=False, allow_null=True, write_only=True,
        error_messages={"not_a_dict": CREDENTIALS_MESSAGE},
    )


class ConnectionFilterSerializer(serializers.Serializer):
    """The query string of ``GET /connections/``."""

    status = query_choice(ConnectionStatus.values)
    service = Text(required=False, allow_blank=True)
    search = Text(required=False, allow_blank=True)


class ServiceFilterSerializer(serializers.Serializer):
    """The query string of ``GET /services/``."""

    auth_type = query_choice(tuple(AUTH_TYPES))
    kind = query_choice(("preconfigured", "custom"))
    search = Text(required=False, allow_blank=True)


class ConnectionListItemSerializer(ConnectionOutSerializer):
    """A connection in a list: lists never carry ``snippets``."""

    snippets = None


class ConnectionWithLinkSerializer(ConnectionOutSerializer):
    """After create and reconnect: ``authorize_url`` is there, ``null`` unless consent is next."""

    authorize_url = serializers.URLField(allow_null=True)


class ConnectionUpdatedSerializer(ConnectionOutSerializer):
    """After PATCH: ``authorize_url`` only when the change needs a new consent."""

    authorize_url = serializers.URLField(required=False)


class TestResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    status_code = serializers.IntegerField(allow_null=True)
    message = serializers.CharField()


class InvocationLogSerializer(serializers.ModelSerializer):
    # ``error`` is the error code of a call that got no answer, else null.
    error = serializers.CharField(allow_null=True, read_only=True)
    token = serializers.CharField(allow_null=True, read_only=True, help_text="The API token used: its prefix and name.")

    class Meta:
        model = InvocationLog
        fields = ["at", "method", "url", "status_code", "elapsed_ms", "error", "actor", "token"]
        read_only_fields = fields  # always present in the answer

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["error"] = data["error"] or None
        data["token"] = data["token"] or None
        return data


class EventSerializer(serializers.ModelSerializer):
    token = serializers.CharField(allow_null=True, read_only=True, help_text="The API token used: its prefix and name.")
    data = serializers.DictField(read_only=True)

    class Meta:
        model = Event
        fields = ["at", "actor", "token", "action", "target", "data"]
        read_only_fields = fields  # always present in the answer

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["token"] = data["token"] or None
        return data


# -- invoke --------------------------------------------------------------------------------
class MethodField(serializers.ChoiceField):
    """One of ``METHODS``, in any case; null means GET."""

    def __init__(self, **kwargs):
        message = f"Must be one of {', '.join(METHODS)}."
        super().__init__(choices=METHODS, error_messages={"invalid_choice": message, "blank": message}, **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, str) and data.upper() in METHODS:
            return data.upper()
        self.fail("invalid_choice", input=data)


@extend_schema_field({
    "type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": settings.CONNECTIONS_INVOKE_MAX_TIMEOUT,
    "description": f"A total deadline in seconds; default {settings.CONNECTIONS_INVOKE_DEFAULT_TIMEOUT}.",
})
class TimeoutField(Number):
    def to_internal_value(self, data):
        limit = settings.CONNECTIONS_INVOKE_MAX_TIMEOUT
        if isinstance(data, bool) or not isinstance(data, (int, float)) or not 0 < data <= limit:
            raise serializers.ValidationError(f"Must be a number of seconds above 0 and at most {limit}.")
        return data


@extend_schema_field({})
class AnyJSONInField(serializers.Field):
    """Any JSON value, passed on as parsed (the parser made it, so it serialises)."""

    def to_internal_value(self, data):
        return data

    def to_representation(self, value):
        return value


class InvokeInSerializer(StrictInput):
    """One request to make through a connection; at most one of ``json``, ``form`` and
    ``body``. Unknown fields are refused."""

    connection = required_text(help_text="The connection's link name.")
    url = required_text(help_text="An absolute http(s) URL, or a path resolved against the service's base_url.")
    method = MethodField(required=False, allow_null=True, help_text="Case-insensitive; default GET.")
    params = TextMap(numbers=True, lists=True, required=False, allow_null=True)
    headers = TextMap(numbers=True, required=False, allow_null=True)
    json = AnyJSONInField(required=False, allow_null=True)
    form = TextMap(numbers=True, required=False, allow_null=True)
    body = Text(
        required=False, allow_null=True, allow_blank=True, nul_ok=True,  # sent upstream as is, never stored
        error_messages={"invalid": "Must be a string (use json for JSON bodies)."},
    )
    timeout = TimeoutField(required=False, allow_null=True)
    retries = WholeNumber(
        min_value=0, max_value=MAX_RETRIES, required=False, allow_null=True,
        error_messages={"invalid": f"Must be a whole number from 0 to {MAX_RETRIES}."},
    )


# Any JSON value; OpenAPI 3.0 has no "null" type, so null is allowed by ``nullable`` on a
# schema with a ``type``-less union, and every array declares its ``items``.
@extend_schema_field({
    "oneOf": [
        {"type": "object", "additionalProperties": {}}, {"type": "array", "items": {}}, {"type": "string"},
        {"type": "number"}, {"type": "boolean"},
    ],
    "nullable": True,
})
class AnyJSONField(serializers.JSONField):
    pass


class InvokeOutSerializer(serializers.Serializer):
    status_code = serializers.IntegerField()
    headers = serializers.DictField(child=serializers.CharField())
    body = AnyJSONField(help_text="Parsed JSON, text, or base64 text, as body_encoding says.")
    body_encoding = serializers.ChoiceField(choices=["json", "text", "base64"])
    elapsed_ms = serializers.IntegerField()


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=ERROR_CODES)
    message = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False,
        help_text="Validation errors: field name (nested ones with dots) to messages.",
    )


class ErrorSerializer(serializers.Serializer):
    """Every error: ``{"error": {"code", "message", "fields"?}}``."""

    error = ErrorBodySerializer()


# An http(s) URL (RFC 3986 characters; an ASCII host name) without user name or password:
# what ``notifications.webhook_set`` takes, written as a pattern the schema can carry.
_URI_CHAR = r"(?:[A-Za-z0-9._~!$&'()*+,;=:@/-]|%[0-9A-Fa-f]{2})"
WEBHOOK_URL = FullMatch(
    rf"^https?://[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{{1,5}})?(?:/{_URI_CHAR}*)?(?:\?(?:{_URI_CHAR}|\?)*)?(?:#(?:{_URI_CHAR}|\?)*)?$",
    message="Give an absolute http(s) URL without user name or password.",
)


class WebhookInSerializer(StrictInput):
    """Where to POST the organisation's status events. Unknown fields are refused."""

    url = required_text(max_length=500, validators=[WEBHOOK_URL], error_messages={"max_length": "At most 500 characters."})


class WebhookOutSerializer(serializers.Serializer):
    url = serializers.URLField(allow_null=True)
    has_secret = serializers.BooleanField()


class WebhookCreatedSerializer(serializers.Serializer):
    url = serializers.URLField()
    secret = serializers.CharField(help_text="The signing secret, shown only in this answer.")


def page_of(item_serializer: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """A paginated list of ``item_serializer`` (``{"results", "next", "previous"}``), for the schema."""
    name = item_serializer.__name__.replace("OutSerializer", "").replace("Serializer", "") + "PageSerializer"
    # many=False: the page itself is one object even though the action is a list.
    return extend_schema_serializer(many=False)(type(name, (serializers.Serializer,), {
        "results": item_serializer(many=True),
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "__doc__": f"One page of a list; follow ``next`` to the end ({item_serializer.__name__}).",
    }))
