"""The browser side of consent: the one-time authorize link and the two callbacks.

These pages carry codes and states in their URLs, so they send ``Referrer-Policy:
no-referrer`` and ``Cache-Control: no-store``. They redirect only to the provider (start)
or to the connection's own page (finish): no ``next`` parameter is honoured.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from .. import oauth_flow, rate_limit
from ..rate_limit import client_address


def _private(response: HttpResponse) -> HttpResponse:
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-store"
    return response


def _failure(request, error: oauth_flow.FlowError) -> HttpResponse:
    connection = error.connection
    context = {
        "title": error.title,
        "message": error.message,
        "connection_url": reverse("connection-detail", args=[connection.link_name]) if connection else None,
    }
    return _private(render(request, "oauth/failed.html", context, status=400))


@require_http_methods(["GET", "HEAD", "POST"])
def authorize(request, token: str):
    """GET (and HEAD, and any link-preview bot) shows a page naming the service and the
    organisation with a Continue button; only that POST uses the one-time link up."""
    if not _allowed(request, "oauth_start", settings.CONNECTIONS_OAUTH_START_RATE):
        return _private(render(request, "oauth/failed.html", {
            "title": "Too many attempts", "message": "Too many consent starts from this address; wait a minute and try again.",
        }, status=429))
    if request.method != "POST":
        try:
            preview = oauth_flow.link_preview(link_token=token)
        except oauth_flow.FlowError as error:
            return _failure(request, error)
        page = _private(render(request, "oauth/continue.html", {"preview": preview}))
        # Same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on the
        # Continue POST and the CSRF check refuses it. Other origins still get no Referer.
        page["Referrer-Policy"] = "same-origin"
        return page
    try:
        started = oauth_flow.start(link_token=token, browser_token=request.COOKIES.get(oauth_flow.BROWSER_COOKIE))
    except oauth_flow.FlowError as error:
        return _failure(request, error)
    response = HttpResponseRedirect(started.redirect_url)
    response.set_cookie(
        oauth_flow.BROWSER_COOKIE, started.browser_token, max_age=settings.CONNECTIONS_STATE_SECONDS,
        httponly=True, samesite="Lax", secure=settings.CONNECTIONS_BASE_URL.startswith("https://"),
    )
    return _private(response)


def _allowed(request, scope: str, rate: str) -> bool:
    """Count this hit against the client address's budget; False once it is spent."""
    return rate_limit.allow(scope=scope, key=client_address(request), rate=rate)


def _finish(request, flow: str):
    try:
        connection = oauth_flow.finish(flow=flow, params=request.GET.dict(), browser_token=request.COOKIES.get(oauth_flow.BROWSER_COOKIE))
    except oauth_flow.FlowError as error:
        return _failure(request, error)
    return _private(HttpResponseRedirect(reverse("connection-detail", args=[connection.link_name]) + "?connected=1"))


@require_GET
def oauth2_callback(request):
    return _finish(request, "oauth2")


@require_GET
def oauth1_callback(request):
    return _finish(request, "oauth1")
