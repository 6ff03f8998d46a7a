"""Middleware: a request id for every request, and the operational endpoints answered
before host validation and the HTTPS redirect."""

from __future__ import annotations

import re
import uuid

from django.core.signals import request_finished
from django.dispatch import receiver

from . import views
from .logging import request_id

HEADER = "X-Request-ID"
# Ids from outside are kept only when short and plain, so they cannot forge log lines.
_VALID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RequestIdMiddleware:
    """Take ``X-Request-ID`` from the caller (a proxy) or make one; log and return it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.headers.get(HEADER, "")
        rid = given if _VALID.fullmatch(given) else uuid.uuid4().hex
        request.request_id = rid
        # Cleared on request_finished, not here: Django logs 4xx/5xx responses after the
        # middleware has returned, and those records need the id most.
        request_id.set(rid)
        response = self.get_response(request)
        response[HEADER] = rid
        return response


@receiver(request_finished, dispatch_uid="connections_request_id_clear")
def _clear_request_id(**_kwargs) -> None:
    request_id.set(None)


class OpsEndpointsMiddleware:
    """Serve ``/healthz``, ``/readyz`` and ``/metrics`` ahead of the security middleware.

    Orchestrator probes and Prometheus reach a container by its address over plain HTTP:
    they would fail ``ALLOWED_HOSTS`` and get the production HTTPS redirect. These views
    build no URLs and set no cookies, so skipping those checks for them is safe. This is
    their only route.
    """

    ROUTES = {"/healthz": views.healthz, "/readyz": views.readyz, "/metrics": views.metrics}

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        view = self.ROUTES.get(request.path_info)
        if view is not None:
            return view(request)
        return self.get_response(request)
