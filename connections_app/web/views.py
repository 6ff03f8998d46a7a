"""Browser pages: thin views over the same business functions as the API."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render

from .. import selectors, snippets
from ..api.authentication import current_membership
from ..api.errors import error_body
from ..errors import NotFound


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    return render(request, "errors/404.html", status=404)


def server_error(request):
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("server_error", "The server failed to complete the request."), status=500)
    return render(request, "errors/500.html", status=500)


@login_required
def connection_list(request):
    membership = current_membership(request, request.user)
    connections = []
    if membership is not None:
        connections = selectors.connection_list(
            organisation=membership.organisation,
            status=request.GET.get("status") or None,
            search=request.GET.get("q") or None,
        )[:500]
    return render(request, "connections/list.html", {"connections": connections})


@login_required
def connection_detail(request, link_name: str):
    membership = current_membership(request, request.user)
    if membership is None:
        return not_found(request)
    try:
        connection = selectors.connection_get(organisation=membership.organisation, link_name=link_name)
    except NotFound:
        return not_found(request)
    service = selectors.connection_service(connection)
    context = {
        "connection": connection,
        "service": service,
        "snippets": snippets.build(
            link_name=connection.link_name, url=snippets.sample_url(service), base_url=settings.CONNECTIONS_BASE_URL
        ),
    }
    return render(request, "connections/detail.html", context)
