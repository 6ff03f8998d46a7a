"""Serializers: input and output apart. Output never carries a secret; input secrets are
write-only. Input serializers check shape; the business functions check meaning."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers


from .. import selectors, snippets
from ..errors import NotFound
from ..models import Connection, ConnectionStatus, Event, InvocationLog, ServiceClient


# -- connections ---------------------------------------------------------------------------
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
    config = serializers.DictField()
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


class ConnectionCreateSerializer(serializers.Serializer):
    name = serializers.CharField()
    link_name = serializers.CharField()
    service = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField(), required=False)
    credentials = serializers.DictField(child=serializers.CharField(), required=False, write_only=True)
    config = serializers.DictField(child=serializers.CharField(), required=False)


class ConnectionUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(required=False)
    scopes = serializers.ListField(child=serializers.CharField(), required=False)
    credentials = serializers.DictField(child=serializers.CharField(), required=False, write_only=True)


class ConnectionWithLinkSerializer(ConnectionOutSerializer):
    authorize_url = serializers.URLField(allow_null=True, required=False)


class TestResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    status_code = serializers.IntegerField(allow_null=True)
    message = serializers.CharField()


class InvocationLogSerializer(serializers.ModelSerializer):
    token = serializers.CharField(allow_null=True, read_only=True, help_text="The API token used: its prefix and name.")

    class Meta:
        model = InvocationLog
        fields = ["at", "method", "url", "status_code", "elapsed_ms", "error", "actor", "token"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["error"] = data["error"] or None
        data["token"] = data["token"] or None
        return data


class EventSerializer(serializers.ModelSerializer):
    token = serializers.CharField(allow_null=True, read_only=True, help_text="The API token used: its prefix and name.")

    class Meta:
        model = Event
        fields = ["at", "actor", "token", "action", "target", "data"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["token"] = data["token"] or None
        return data


# -- invoke --------------------------------------------------------------------------------
class InvokeInSerializer(serializers.Serializer):
    connection = serializers.CharField()
    url = serializers.CharField()
    method = serializers.ChoiceField(choices=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"], required=False)
    params = serializers.DictField(required=False, allow_null=True)
    headers = serializers.DictField(child=serializers.CharField(), required=False, allow_null=True)
    json = serializers.JSONField(required=False, allow_null=True)
    form = serializers.DictField(child=serializers.CharField(), required=False, allow_null=True)
    body = serializers.CharField(required=False, allow_null=True)
    timeout = serializers.FloatField(required=False, min_value=0.001)
    retries = serializers.IntegerField(required=False, min_value=0, max_value=5)


@extend_schema_field({"oneOf": [{"type": "object"}, {"type": "array"}, {"type": "string"}, {"type": "number"}, {"type": "boolean"}], "nullable": True})
class AnyJSONField(serializers.JSONField):
    pass


class InvokeOutSerializer(serializers.Serializer):
    status_code = serializers.IntegerField()
    headers = serializers.DictField(child=serializers.CharField())
    body = AnyJSONField()
    body_encoding = serializers.ChoiceField(choices=["json", "text", "base64"])
    elapsed_ms = serializers.IntegerField()


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)


class ErrorSerializer(serializers.Serializer):
    """Every error: ``{"error": {"code", "message", "fields"?}}``."""

    error = ErrorBodySerializer()


class WebhookInSerializer(serializers.Serializer):
    url = serializers.URLField()


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
