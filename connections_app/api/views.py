"""DRF views: thin doors that read the request, call one business function, and render."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from .. import rate_limit, selectors, services, token_limits
from ..errors import ValidationFailed
from ..invoke import invoke
from ..models import CustomService, Event, Role
from . import serializers as s
from . import service_serializers as ss
from .pagination import Pagination, page_parameters

ADMIN_ONLY = (Role.ADMIN,)
logger = logging.getLogger(__name__)


def _body(request) -> dict:
    data = request.data
    if not isinstance(data, dict):
        raise ValidationFailed("Send a JSON object.")
    return dict(data)


def _valid(serializer_class, data: dict) -> dict:
    """Run an input serializer; its errors become the ``validation_error`` envelope. (A query
    string goes in as ``.dict()``, its last value per name: DRF reads a QueryDict as an HTML
    form, where an empty value means "not given".)"""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class OrgScopedMixin:
    @property
    def organisation(self):
        return self.request.auth.organisation

    @property
    def actor(self):
        return self.request.user


class ServiceViewSet(OrgScopedMixin, viewsets.ViewSet):
    lookup_field = "link_name"
    lookup_value_regex = "[^/]+"
    write_roles = ADMIN_ONLY

    def _context(self) -> dict:
        return {
            "clients": selectors.service_clients(organisation=self.organisation),
            "custom": {c.link_name: c for c in CustomService.objects.filter(organisation=self.organisation)},
        }

    @extend_schema(parameters=[s.ServiceFilterSerializer, *page_parameters("link_name")], responses=s.page_of(ss.ServiceOutSerializer))
    def list(self, request):
        q = _valid(s.ServiceFilterSerializer, request.query_params.dict())
        items = selectors.service_list(
            organisation=self.organisation, auth_type=q.get("auth_type"), kind=q.get("kind"), search=q.get("search")
        )
        paginator = Pagination("link_name")
        page = paginator.paginate_queryset(items, request)
        return paginator.get_paginated_response(ss.ServiceOutSerializer(page, many=True, context=self._context()).data)

    @extend_schema(responses=ss.ServiceOutSerializer)
    def retrieve(self, request, link_name=None):
        service = selectors.service_get(organisation=self.organisation, link_name=link_name)
        return Response(ss.ServiceOutSerializer(service, context=self._context()).data)

    @extend_schema(request=ss.ServiceInSerializer, responses={201: ss.ServiceOutSerializer})
    def create(self, request):
        serializer = ss.ServiceInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        custom = services.custom_service_create(organisation=self.organisation, actor=self.actor, definition=serializer.validated_data)
        return self._respond(custom.link_name, status.HTTP_201_CREATED)

    @extend_schema(request=ss.ServicePatchSerializer, responses=ss.ServiceOutSerializer)
    def partial_update(self, request, link_name=None):
        current = selectors.service_get(organisation=self.organisation, link_name=link_name)
        if current.kind != "custom":
            raise ValidationFailed.field("link_name", "Preconfigured services cannot be changed or deleted.")
        serializer = ss.ServicePatchSerializer(data=request.data, context={"current": current})
        serializer.is_valid(raise_exception=True)
        services.custom_service_update(
            organisation=self.organisation, actor=self.actor, link_name=link_name, definition=serializer.validated_data
        )
        return self._respond(link_name, status.HTTP_200_OK)

    @extend_schema(responses={204: None})
    def destroy(self, request, link_name=None):
        services.custom_service_delete(organisation=self.organisation, actor=self.actor, link_name=link_name)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=ss.ServiceClientInSerializer, responses=ss.ServiceOutSerializer)
    @action(detail=True, methods=["put"], url_path="client")
    def client(self, request, link_name=None):
        service = services.service_for_client(organisation=self.organisation, link_name=link_name)
        serializer = ss.ServiceClientInSerializer(data=request.data, context={"service": service})
        serializer.is_valid(raise_exception=True)
        services.service_client_set(organisation=self.organisation, actor=self.actor, link_name=link_name, **serializer.validated_data)
        return self._respond(link_name, status.HTTP_200_OK)

    def _respond(self, link_name: str, code: int) -> Response:
        service = selectors.service_get(organisation=self.organisation, link_name=link_name)
        return Response(ss.ServiceOutSerializer(service, context=self._context()).data, status=code)


class ConnectionViewSet(OrgScopedMixin, viewsets.ViewSet):
    lookup_field = "link_name"
    lookup_value_regex = "[^/]+"

    def _get(self, link_name):
        return selectors.connection_get(organisation=self.organisation, link_name=link_name)

    def _out(self, connection, *, authorize_url=None, code=status.HTTP_200_OK, include_link=False):
        data = s.ConnectionOutSerializer(connection).data
        if include_link:
            data["authorize_url"] = authorize_url
        return Response(data, status=code)

    @extend_schema(
        parameters=[s.ConnectionFilterSerializer, *page_parameters("link_name")], responses=s.page_of(s.ConnectionListItemSerializer)
    )
    def list(self, request):
        q = _valid(s.ConnectionFilterSerializer, request.query_params.dict())
        rows = selectors.connection_list_values(
            organisation=self.organisation, status=q.get("status"), service=q.get("service") or None, search=q.get("search") or None,
            link_names=token_limits.allowed_connections(getattr(request.auth, "api_token", None)),
        )
        paginator = Pagination("link_name")
        page = selectors.with_custom_services(selectors.listed(paginator.paginate_queryset(rows, request)))
        return paginator.get_paginated_response(s.ConnectionListItemSerializer(page, many=True, context={"with_snippets": False}).data)

    @extend_schema(responses=s.ConnectionOutSerializer)
    def retrieve(self, request, link_name=None):
        return self._out(self._get(link_name))

    @extend_schema(request=s.ConnectionCreateSerializer, responses={201: s.ConnectionWithLinkSerializer})
    def create(self, request):
        data = _valid(s.ConnectionCreateSerializer, _body(request))
        connection, url = services.connection_create(organisation=self.organisation, actor=self.actor, **data)
        return self._out(self._get(connection.link_name), authorize_url=url, code=status.HTTP_201_CREATED, include_link=True)

    @extend_schema(request=s.ConnectionUpdateSerializer, responses=s.ConnectionUpdatedSerializer)
    def partial_update(self, request, link_name=None):
        changes = _valid(s.ConnectionUpdateSerializer, _body(request))
        _connection, url = services.connection_update(
            organisation=self.organisation, actor=self.actor, link_name=link_name, data=changes
        )
        return self._out(self._get(link_name), authorize_url=url, include_link=url is not None)

    @extend_schema(responses={204: None})
    def destroy(self, request, link_name=None):
        services.connection_delete(organisation=self.organisation, actor=self.actor, link_name=link_name)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=s.ConnectionWithLinkSerializer)
    @action(detail=True, methods=["post"])
    def reconnect(self, request, link_name=None):
        connection, url = services.connection_reconnect(organisation=self.organisation, actor=self.actor, link_name=link_name)
        return self._out(self._get(link_name), authorize_url=url, include_link=True)

    @extend_schema(request=None, responses=s.ConnectionOutSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, link_name=None):
        return self._out(services.connection_revoke(organisation=self.organisation, actor=self.actor, link_name=link_name))

    @extend_schema(request=None, responses=s.ConnectionOutSerializer)
    @action(detail=True, methods=["post"])
    def refresh(self, request, link_name=None):

        services.connection_refresh_now(organisation=self.organisation, actor=self.actor, link_name=link_name)
        return self._out(self._get(link_name))

    @extend_schema(request=None, responses=s.TestResultSerializer)
    @action(detail=True, methods=["post"])
    def test(self, request, link_name=None):
        return Response(services.connection_test(organisation=self.organisation, actor=self.actor, link_name=link_name))

    @extend_schema(parameters=page_parameters("id"), responses=s.page_of(s.InvocationLogSerializer))
    @action(detail=True, methods=["get"])
    def logs(self, request, link_name=None):
        connection = selectors.connection_get(organisation=self.organisation, link_name=link_name, annotate=False)
        paginator = Pagination("id", descending=True)
        page = paginator.paginate_queryset(selectors.invocation_list(connection=connection), request)
        return paginator.get_paginated_response(s.InvocationLogSerializer(page, many=True).data)


class InvokeThrottle(SimpleRateThrottle):
    """Bursts on invoke are limited per organisation, whoever sends them.

    A fixed window counted in the cache (``rate_limit.hit``: one round trip to Redis in
    production): cheaper than DRF's sliding log, which reads and rewrites a growing list per
    request. When the cache is down, invoke keeps working unthrottled rather than failing.
    """

    retry_after = None

    def get_rate(self) -> str:
        return settings.CONNECTIONS_INVOKE_RATE

    def allow_request(self, request, view) -> bool:
        membership = request.auth
        if membership is None:
            return True
        now = time.time()
        counted = getattr(getattr(request, "_request", None), "invoke_throttle", None)  # by the hot cache's round trip
        if counted is not None:
            count, (_key, window_start, duration, limit) = counted
        else:
            key, window_start, duration, limit = rate_limit.invoke_window(membership.organisation_id, now)
            try:
                count = rate_limit.hit(key, duration)
            except Exception as exc:  # noqa: BLE001 - any cache backend error
                logger.warning("invoke throttle skipped: cache unavailable (%s)", type(exc).__name__)
                return True
        if count > limit:
            self.retry_after = window_start + duration - now
            return False
        return True

    def wait(self):
        return self.retry_after


class InvokeView(OrgScopedMixin, APIView):
    throttle_classes = [InvokeThrottle]

    @extend_schema(request=s.InvokeInSerializer, responses=s.InvokeOutSerializer)
    def post(self, request):
        data = _valid(s.InvokeInSerializer, _body(request))
        return Response(invoke(organisation=self.organisation, actor=self.actor, **data))


class EventViewSet(OrgScopedMixin, viewsets.ViewSet):
    read_roles = ADMIN_ONLY

    @extend_schema(parameters=page_parameters("id"), responses=s.page_of(s.EventSerializer))
    def list(self, request):
        paginator = Pagination("id", descending=True)
        events = Event.objects.filter(organisation=self.organisation)
        allowed = token_limits.allowed_connections(getattr(request.auth, "api_token", None))
        if allowed is not None:  # a token limited to connections sees only their events
            events = events.filter(action__startswith="connection.", target__in=allowed)
        page = paginator.paginate_queryset(events, request)
        return paginator.get_paginated_response(s.EventSerializer(page, many=True).data)


class WebhookView(OrgScopedMixin, APIView):
    """The organisation's webhook for connection status events (admins only)."""

    read_roles = ADMIN_ONLY
    write_roles = ADMIN_ONLY

    @extend_schema(responses=s.WebhookOutSerializer)
    def get(self, request):
        organisation = self.organisation
        return Response({"url": organisation.webhook_url or None, "has_secret": bool(organisation.webhook_secret_encrypted)})

    @extend_schema(request=s.WebhookInSerializer, responses=s.WebhookCreatedSerializer)
    def put(self, request):
        data = _valid(s.WebhookInSerializer, _body(request))
        secret = services.webhook_set(organisation=self.organisation, actor=self.actor, url=data["url"])
        return Response({"url": self.organisation.webhook_url, "secret": secret})

    @extend_schema(responses={204: None})
    def delete(self, request):
        services.webhook_clear(organisation=self.organisation, actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)
