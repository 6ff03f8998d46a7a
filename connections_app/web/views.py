"""Browser pages: thin views over the same business functions as the API.

Each view parses a form, calls one business function and renders or redirects. Domain
errors become form errors next to the fields. Every page but sign-in needs a signed-in
member; writes also need the role (the buttons are hidden, and the server refuses anyway);
another organisation's link names are simply not found.
"""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import oauth_flow, selectors, services, snippets
from ..api.authentication import SESSION_ORG_KEY, current_membership
from ..api.errors import error_body
from ..auth.base import FETCHED
from ..auth.registry import AUTH_TYPES
from ..events import denial_record
from ..errors import Conflict, ConnectionsError, NotFound, ValidationFailed
from ..models import ConnectionStatus, Role
from . import catalog_text, forms
from .submit import form_submit

WRITE_ROLES = (Role.ADMIN, Role.DEVELOPER)


# -- errors ------------------------------------------------------------------------------
def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    return render(request, "errors/404.html", status=404)


def bad_request(request, exception=None):
    """Django's own 400s (a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``, a bad Host) raised
    before a view answers: the API's envelope for API paths, Django's page elsewhere."""
    if not request.path.startswith("/api/"):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        message = f"The request body is larger than {limit:,} bytes (DATA_UPLOAD_MAX_MEMORY_SIZE)."
    else:
        message = "The request could not be read."
    return JsonResponse(error_body("validation_error", message), status=400)


def server_error(request):
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("server_error", "The server failed to complete the request."), status=500)
    return render(request, "errors/500.html", status=500)


def forbidden(request, message: str = "Your role does not allow this."):
    return render(request, "errors/403.html", {"message": message}, status=403)


# -- access ------------------------------------------------------------------------------
def member_page(*, write: bool = False, admin: bool = False):
    """Require a signed-in member (and a role allowing writes, or admin); pass the membership."""

    def decorate(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            membership = getattr(request, "_membership", None) or current_membership(request, request.user)
            request._membership = membership  # the template context reuses it
            if membership is None:
                return render(request, "errors/no_organisation.html", status=403)
            if admin and membership.role != Role.ADMIN:
                denial_record(membership=membership, method=request.method, path=request.path)
                return forbidden(request, "Only admins of this organisation can do this.")
            if write and membership.role not in WRITE_ROLES:
                denial_record(membership=membership, method=request.method, path=request.path)
                return forbidden(request, "Viewers can look but not change anything. Ask an admin for the developer role.")
            return view(request, membership, *args, **kwargs)

        return login_required(never_cache(wrapped))

    return decorate


# -- organisations -----------------------------------------------------------------------
@require_POST
@member_page()
def organisation_switch(request, membership):
    try:
        chosen = services.organisation_switch(user=request.user, organisation_id=request.POST.get("organisation"))
    except NotFound:
        return not_found(request)
    request.session[SESSION_ORG_KEY] = chosen.organisation_id
    request._membership = chosen
    messages.success(request, f"You now act in {chosen.organisation.name} as {chosen.get_role_display().lower()}.")
    next_url = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        next_url = reverse("connection-list")
    # Link names differ per organisation: land on a page that exists in every one.
    if next_url.startswith(("/connections/", "/services/")):
        next_url = reverse("connection-list")
    return redirect(next_url)


# -- My Connections ----------------------------------------------------------------------
@require_GET
@member_page()
def connection_list(request, membership):
    organisation = membership.organisation
    filters = forms.ConnectionFilterForm(request.GET or None)
    q = status = None
    if filters.is_bound and filters.is_valid():
        q, status = filters.cleaned_data["q"] or None, filters.cleaned_data["status"] or None
    connections = list(selectors.connection_list(organisation=organisation, status=status, search=q)[:500])
    names = {s.link_name: s.name for s in selectors.service_list(organisation=organisation)}
    for connection in connections:
        connection.service_name = names.get(connection.service_link_name, connection.service_link_name)
    context = {"connections": connections, "filters": filters, "filtered": bool(q or status)}
    return render(request, "connections/list.html", context)


# -- Create Connection -------------------------------------------------------------------
def _add_row(request) -> str | None:
    """Which "Add another row" button a no-JavaScript POST pressed, if any."""
    return next(({"add_param": "param", "add_scope": "scope"}[k] for k in ("add_param", "add_scope") if k in request.POST), None)


@require_http_methods(["GET", "POST"])
@member_page(write=True)
def connection_new(request, membership):
    """The two tabs: "Select a service" (GET filters) and "Custom service" (POST saves)."""
    tab = "custom" if request.method == "POST" or request.GET.get("tab") == "custom" else "catalog"
    context = {"tab": tab}
    organisation = membership.organisation
    if tab == "catalog":
        filters = forms.ServiceFilterForm(request.GET)
        q = auth_type = None
        if filters.is_valid():
            q, auth_type = filters.cleaned_data["q"] or None, filters.cleaned_data["auth_type"] or None
        found = selectors.service_list(organisation=organisation, auth_type=auth_type, search=q)
        context.update(
            filters=filters, services=[{"service": s, "text": catalog_text.tile_text(s)} for s in found],
            auth_labels=forms.AUTH_TYPE_LABELS,
        )
        return render(request, "connections/new.html", context)
    if membership.role != Role.ADMIN:
        if request.method == "POST":
            return forbidden(request, "Only admins can define custom services.")
        return render(request, "connections/new.html", context)
    add_row = _add_row(request) if request.method == "POST" else None
    page = forms.CustomServicePage(
        request.POST if request.method == "POST" else None, organisation=organisation, add_row=add_row, callback_urls=_callback_urls(),
    )
    context["page"] = page
    if add_row:
        page.quiet()
        return render(request, "connections/new.html", context)
    submission = form_submit(request, page, lambda: services.custom_service_connect(
        organisation=organisation, actor=request.user, service_data=page.service_data(), **page.connection_arguments(),
    ))
    if submission.done:
        _custom, connection, authorize_url = submission.result
        return _after_create(request, connection, authorize_url)
    return render(request, "connections/new.html", context, status=submission.status)


def _after_create(request, connection, authorize_url):
    if authorize_url:
        # A one-time link on this server that redirects to the provider's consent page.
        return HttpResponseRedirect(authorize_url)
    if connection.status == ConnectionStatus.CONNECTED:
        messages.success(request, f"The connection {connection.name} is connected.")
    elif connection.error:
        messages.error(request, connection.error)
    return redirect("connection-detail", link_name=connection.link_name)


def _callback_urls() -> dict[str, str]:
    """The redirect URI a person registers with the provider, by consent type."""
    return {name: oauth_flow.redirect_uri(name) for name, cls in AUTH_TYPES.items() if cls.callback_path}


@require_http_methods(["GET", "POST"])
@member_page(write=True)
def connection_new_details(request, membership, service_link_name: str):
    organisation = membership.organisation
    service = _service_or_none(membership, service_link_name)
    if service is None:
        return not_found(request)
    form = forms.ConnectionDetailsForm(request.POST or None, service=service, organisation=organisation)
    submission = form_submit(request, form, lambda: services.connection_create(
        organisation=organisation, actor=request.user, **form.call_arguments()
    ))
    if submission.done:
        return _after_create(request, *submission.result)
    context = {
        "tab": "catalog", "service": service, "form": form,
        "client_ready": selectors.oauth_client_ready(organisation=organisation, service=service),
        "auth_labels": forms.AUTH_TYPE_LABELS,
        "hosts": catalog_text.hosts(service, form.config_values()),
        "hosts_vary_with": catalog_text.varies_with(service),
    }
    return render(request, "connections/details.html", context, status=submission.status)


@require_GET
@member_page()
def link_name_check(request, membership):
    kind = "service" if request.GET.get("kind") == "service" else "connection"
    result = services.link_name_check(organisation=membership.organisation, link_name=request.GET.get("link_name", ""), kind=kind)
    return JsonResponse(result)


# -- Connection summary and its actions ---------------------------------------------------
def _connection_or_none(membership, link_name):
    try:
        return selectors.connection_get(organisation=membership.organisation, link_name=link_name)
    except NotFound:
        return None


def _service_or_none(membership, link_name):
    try:
        return selectors.service_get(organisation=membership.organisation, link_name=link_name)
    except NotFound:
        return None


def _service_of(connection):
    try:
        return selectors.connection_service(connection)
    except NotFound:
        return None


def _consent(service) -> bool:
    return bool(service and service.auth(service).needs_consent)


def _next_step(connection, service) -> str:
    if connection.status == ConnectionStatus.CONNECTED and not connection.error:
        return ""
    if _consent(service):
        if connection.status == ConnectionStatus.PENDING:
            return "Consent has not finished. Use Reconnect to open the provider's consent page again."
        return "Use Reconnect to give consent again."
    if service and service.auth(service).connects_by == FETCHED:
        return "The token could not be fetched; check the client credentials on the Services page."
    if connection.status == ConnectionStatus.CONNECTED:
        return ""
    return "Use Edit to enter the credentials again."


def _settings_shown(connection, service) -> list[tuple[str, str]]:
    """A connection's config as (field name, value) a person reads."""
    fields = {f.name: f for f in service.config_fields} if service else {}
    out = []
    for key, value in (connection.config or {}).items():
        field = fields.get(key)
        shown = catalog_text.choice_label(service, field, value) if field and field.choices else value
        out.append((catalog_text.short_name(field) if field else key, shown))
    return out


@require_GET
@member_page()
def connection_detail(request, membership, link_name: str):
    connection = _connection_or_none(membership, link_name)
    if connection is None:
        return not_found(request)
    if "connected" in request.GET:
        # Consent comes back with ?connected=1: say so once, then drop it from the address
        # so that a reload does not say it again.
        if connection.status == ConnectionStatus.CONNECTED:
            messages.success(request, f"Connected. Scripts can use {connection.link_name} now.")
        return redirect("connection-detail", link_name=link_name)
    service = _service_of(connection)
    scope_names = {s.name: s.display_name for s in service.scopes} if service else {}
    context = {
        "connection": connection,
        "service": service,
        "service_name": service.name if service else connection.service_link_name,
        "scopes": [(s, scope_names.get(s, "")) for s in connection.scopes],
        "snippets": snippets.build(
            link_name=connection.link_name,
            url=snippets.sample_url(service) if service else "https://example.invalid/",
            base_url=settings.CONNECTIONS_BASE_URL,
        ),
        "invocations": selectors.invocation_list(connection=connection)[:20],
        "consent": _consent(service),
        "typed_credentials": bool(service and service.credential_fields()),
        "next_step": _next_step(connection, service),
        "credential_hints": selectors.connection_credential_hints(connection=connection, service=service) if service else [],
        "settings_shown": _settings_shown(connection, service),
        "auth_labels": forms.AUTH_TYPE_LABELS,
    }
    return render(request, "connections/detail.html", context)


@require_POST
@member_page(write=True)
def connection_test(request, membership, link_name: str):
    if _connection_or_none(membership, link_name) is None:
        return not_found(request)
    result = services.connection_test(organisation=membership.organisation, actor=request.user, link_name=link_name)
    code = f" (HTTP {result['status_code']})" if result.get("status_code") else ""
    if result["ok"]:
        messages.success(request, f"Test passed{code}: {result['message']}")
    else:
        messages.error(request, f"Test failed{code}: {result['message']}")
    return redirect("connection-detail", link_name=link_name)


@require_POST
@member_page(write=True)
def connection_reconnect(request, membership, link_name: str):
    if _connection_or_none(membership, link_name) is None:
        return not_found(request)
    try:
        _connection, authorize_url = services.connection_reconnect(
            organisation=membership.organisation, actor=request.user, link_name=link_name
        )
    except ValidationFailed as exc:
        messages.error(request, _first_message(exc))
        return redirect("connection-detail", link_name=link_name)
    return HttpResponseRedirect(authorize_url)


def _first_message(exc: ConnectionsError) -> str:
    for values in (exc.fields or {}).values():
        if values:
            return values[0]
    return exc.message


def _confirmed(request, membership, link_name: str, *, action: str, step, done: str, then: str):
    """A confirmation page (GET) for one action on a connection; POST runs ``step``, says
    ``done`` and goes to the URL ``then``."""
    connection = _connection_or_none(membership, link_name)
    if connection is None:
        return not_found(request)
    if request.method == "POST":
        step(organisation=membership.organisation, actor=request.user, link_name=link_name)
        messages.success(request, done.format(connection=connection))
        return redirect(then)
    return render(request, "connections/confirm.html", {"connection": connection, "action": action, "service": _service_of(connection)})


@require_http_methods(["GET", "POST"])
@member_page(write=True)
def connection_revoke(request, membership, link_name: str):
    return _confirmed(
        request, membership, link_name, action="revoke", step=services.connection_revoke,
        then=reverse("connection-detail", args=[link_name]),
        done="The connection {connection.name} is revoked; its credentials are wiped.",
    )


@require_http_methods(["GET", "POST"])
@member_page(write=True)
def connection_delete(request, membership, link_name: str):
    return _confirmed(
        request, membership, link_name, action="delete", step=services.connection_delete,
        then=reverse("connection-list"),
        done="The connection {connection.name} ({connection.link_name}) is deleted.",
    )


@require_http_methods(["GET", "POST"])
@member_page(write=True)
def connection_edit(request, membership, link_name: str):
    connection = _connection_or_none(membership, link_name)
    if connection is None:
        return not_found(request)
    service = _service_of(connection)
    if service is None:
        return not_found(request)
    form = forms.ConnectionEditForm(request.POST or None, service=service, connection=connection)

    def save():
        changes = form.changes(connection)
        if not changes:
            return None
        return services.connection_update(
            organisation=membership.organisation, actor=request.user, link_name=link_name, data=changes
        )

    submission = form_submit(request, form, save)
    if submission.done:
        if submission.result is None:
            messages.info(request, "Nothing changed.")
            return redirect("connection-detail", link_name=link_name)
        _connection, authorize_url = submission.result
        if authorize_url:
            return HttpResponseRedirect(authorize_url)
        messages.success(request, "The connection is saved.")
        return redirect("connection-detail", link_name=link_name)
    context = {"connection": connection, "service": service, "form": form}
    return render(request, "connections/edit.html", context, status=submission.status)


# -- Services ----------------------------------------------------------------------------
@require_GET
@member_page()
def service_list(request, membership):
    organisation = membership.organisation
    used_by = selectors.connection_counts_by_service(organisation=organisation)
    clients = selectors.service_clients(organisation=organisation)
    oauth_services = sorted(
        (
            {"service": s, "client": clients.get(s.link_name)}
            for s in selectors.service_list(organisation=organisation, kind="preconfigured")
            if s.is_oauth
        ),
        key=lambda item: (item["client"] is None, item["service"].name.lower()),  # set ones first
    )
    context = {
        "customs": [
            {"custom": c, "definition": c.definition, "used_by": used_by.get(c.link_name, 0)}
            for c in selectors.custom_service_list(organisation=organisation)
        ],
        "oauth_services": oauth_services,
        "auth_labels": forms.AUTH_TYPE_LABELS,
        "param_labels": forms.PARAM_TYPE_LABELS,
    }
    return render(request, "services/list.html", context)


def _custom_or_none(membership, link_name):
    try:
        return selectors.custom_service_get(organisation=membership.organisation, link_name=link_name)
    except NotFound:
        return None


@require_http_methods(["GET", "POST"])
@member_page(admin=True)
def service_edit(request, membership, link_name: str):
    custom = _custom_or_none(membership, link_name)
    if custom is None:
        return not_found(request)
    add_row = _add_row(request) if request.method == "POST" else None
    page = forms.CustomServicePage(
        request.POST or None, editing=custom, with_connection=False, add_row=add_row, callback_urls=_callback_urls(),
    )
    if add_row:
        page.quiet()
        submission = None
    else:
        submission = form_submit(request, page, lambda: services.custom_service_update(
            organisation=membership.organisation, actor=request.user, link_name=link_name,
            definition=page.definition,  # judged by the page, with the options it does not show kept
        ))
        if submission.done:
            messages.success(request, f"The service {custom.link_name} is saved.")
            return redirect("service-list")
    context = {"custom": custom, "page": page}
    return render(request, "services/edit.html", context, status=submission.status if submission else 200)


@require_http_methods(["GET", "POST"])
@member_page(admin=True)
def service_delete(request, membership, link_name: str):
    custom = _custom_or_none(membership, link_name)
    if custom is None:
        return not_found(request)
    used_by = list(selectors.connections_of_service(organisation=membership.organisation, service_link_name=link_name))
    if request.method == "POST" and not used_by:
        try:
            services.custom_service_delete(organisation=membership.organisation, actor=request.user, link_name=link_name)
        except Conflict:  # a connection to it was made meanwhile: show which
            used_by = list(selectors.connections_of_service(organisation=membership.organisation, service_link_name=link_name))
        else:
            messages.success(request, f"The service {link_name} is deleted.")
            return redirect("service-list")
    # Used by connections: the page names them, and there is nothing to confirm.
    status = 409 if request.method == "POST" else 200
    return render(request, "services/delete.html", {"custom": custom, "used_by": used_by}, status=status)


def _back_to(request) -> str | None:
    """A create-connection page to come back to after setting an OAuth client, if asked."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    safe = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure())
    return target if safe and target.startswith("/connections/new/") else None


@require_http_methods(["GET", "POST"])
@member_page(admin=True)
def service_client(request, membership, link_name: str):
    organisation = membership.organisation
    service = _service_or_none(membership, link_name)
    if service is None or service.kind != "preconfigured" or not service.is_oauth:
        return not_found(request)
    client = selectors.service_clients(organisation=organisation).get(link_name)
    form = forms.ServiceClientForm(
        request.POST or None, client_fields=service.client_fields, extra_names=service.client_extra_names,
        initial={"client_id": client.client_id if client else "", "redirect_name": client.redirect_name if client else ""},
    )
    submission = form_submit(request, form, lambda: services.service_client_set(
        organisation=organisation, actor=request.user, link_name=link_name,
        client_id=form.cleaned_data["client_id"], client_secret=form.cleaned_data["client_secret"],
        **{name: form.cleaned_data[name] for name in service.client_extra_names},
    ))
    back_to = _back_to(request)
    if submission.done:
        messages.success(request, f"The OAuth client for {service.name} is saved.")
        return redirect(back_to or reverse("service-list") + f"#client-{link_name}")
    context = {
        "service": service, "client": client, "form": form, "back_to": back_to,
        "redirect_uri": oauth_flow.redirect_uri(service.auth_type),
    }
    return render(request, "services/client.html", context, status=submission.status)


# -- API tokens --------------------------------------------------------------------------
NEW_TOKEN_SESSION_KEY = "connections_new_api_token"


@require_http_methods(["GET", "POST"])
@member_page()
def token_list(request, membership):
    names = list(selectors.connection_list(organisation=membership.organisation).values_list("link_name", flat=True))
    form = forms.ApiTokenForm(request.POST or None, connection_names=names)
    submission = form_submit(request, form, lambda: services.api_token_create(membership=membership, **form.limits()))
    if submission.done:
        # POST/redirect/GET: the key waits in the session for the one page that shows it,
        # so a reload never creates a second token.
        _token, key = submission.result
        request.session[NEW_TOKEN_SESSION_KEY] = key
        return redirect("token-created")
    context = {"tokens": selectors.api_token_list(membership=membership), "form": form}
    return render(request, "tokens/list.html", context, status=submission.status)


@require_GET
@member_page()
def token_created(request, membership):
    key = request.session.pop(NEW_TOKEN_SESSION_KEY, None)
    if key is None:
        messages.info(request, "A new token is shown only once. Create another if you did not copy it.")
        return redirect("token-list")
    # Shown on this response only: the key is stored as a hash and never shown again.
    mcp_url = f"{settings.CONNECTIONS_BASE_URL}/mcp"
    response = render(request, "tokens/created.html", {"key": key, "mcp_url": mcp_url})
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@member_page()
def token_revoke(request, membership, token_id: int):
    try:
        services.api_token_revoke(membership=membership, token_id=token_id)
    except NotFound:
        return not_found(request)
    messages.success(request, "The token is revoked; scripts using it stop working now.")
    return redirect("token-list")
