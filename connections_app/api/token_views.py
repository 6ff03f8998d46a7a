"""``/api/v1/tokens/``: the caller's own API tokens (list, create, revoke)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.response import Response

from .. import selectors, services
from ..models import Role
from . import token_serializers as ts


class TokenViewSet(viewsets.ViewSet):
    """Tokens belong to one member in one organisation: each sees only its own. A request
    made with a limited token sees, creates and revokes only tokens no wider than it.
    Every role may keep tokens (a viewer's can only read); a token needs the ``manage``
    action to create or revoke tokens."""

    write_roles = (Role.ADMIN, Role.DEVELOPER, Role.VIEWER)
    lookup_value_regex = "[0-9]+"

    def _parent(self, request):
        return getattr(request.auth, "api_token", None)

    @extend_schema(responses=ts.TokenOutSerializer(many=True))
    def list(self, request):
        tokens = selectors.api_token_list(membership=request.auth, within=self._parent(request))
        return Response(ts.TokenOutSerializer(tokens, many=True).data)

    @extend_schema(request=ts.TokenInSerializer, responses={201: ts.TokenCreatedSerializer})
    def create(self, request):
        serializer = ts.TokenInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, key = services.api_token_create(membership=request.auth, parent=self._parent(request), **serializer.validated_data)
        data = ts.TokenOutSerializer(token).data
        response = Response({**data, "token": key}, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH)], responses={204: None})
    def destroy(self, request, pk=None):
        services.api_token_revoke(membership=request.auth, token_id=pk, parent=self._parent(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
