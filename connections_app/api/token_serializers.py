"""Scoped API tokens in and out. The key is in the create answer only (``token``)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from ..models import TokenAction
from .fields import Text


class TokenInSerializer(serializers.Serializer):
    """``{name, connections, actions, expires_at}``; each limit ``null`` (or absent) for
    none. Unknown fields are refused, so a misspelt limit never yields a wider token."""

    refuses_unknown_fields = True  # the schema says additionalProperties: false (api/schema.py)

    # Text: a JSON string as sent (DRF's CharField would take a number and store its digits).
    name = Text(max_length=100, required=False, allow_blank=True, default="", trim_whitespace=True)
    connections = serializers.ListField(
        child=Text(max_length=50, trim_whitespace=True), allow_null=True, required=False, default=None, allow_empty=False,
        help_text="Link names of the connections the token may see and use; null for all.",
    )
    actions = serializers.ListField(
        child=serializers.ChoiceField(choices=TokenAction.values), allow_null=True, required=False, default=None,
        allow_empty=False, help_text="read (list and see), invoke, manage (create, change, delete); null for all the role allows.",
    )
    expires_at = serializers.DateTimeField(allow_null=True, required=False, default=None)

    def to_internal_value(self, data: Any) -> dict:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return super().to_internal_value(data)


class TokenOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField(help_text="The first characters of the key, to recognise it; never the key.")
    connections = serializers.ListField(child=serializers.CharField(), allow_null=True)
    actions = serializers.ListField(child=serializers.CharField(), allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)


class TokenCreatedSerializer(TokenOutSerializer):
    token = serializers.CharField(help_text="The key: shown in this answer only, never again.")
