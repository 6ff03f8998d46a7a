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
from django.views.decorators.http import require_GET

from .. import oauth_flow


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


@require_GET
def authorize(request, token: str):
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


def _finish(request, finish):
    try:
        connection = finish(params=request.GET.dict(), browser_token=request.COOKIES.get(oauth_flow.BROWSER_COOKIE))
    except oauth_flow.FlowError as error:
        return _failure(request, error)
    return _private(HttpResponseRedirect(reverse("connection-detail", args=[connection.link_name]) + "?connected=1"))


@require_GET
def oauth2_callback(request):
    return _finish(request, oauth_flow.finish_oauth2)


@require_GET
def oauth1_callback(request):
    return _finish(request, oauth_flow.finish_oauth1)
