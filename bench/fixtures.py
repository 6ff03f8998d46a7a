"""Rows the benchmarks need, made through the product's own business functions."""

from __future__ import annotations


def admin_token(org_slug: str = "bench") -> tuple[object, str]:
    """(organisation, API token) of an admin, created in the bench database."""
    from connections_app.models import Role
    from connections_app.services import api_token_create, membership_ensure

    membership = membership_ensure(username=f"{org_slug}-admin", org_slug=org_slug, role=Role.ADMIN, create=True)
    _token, key = api_token_create(membership=membership)
    return membership.organisation, key


def api_key_service(organisation, link_name: str, base_url: str) -> None:
    from connections_app.services import custom_service_create, custom_service_parse

    custom_service_create(organisation=organisation, actor=None, definition=custom_service_parse({
        "link_name": link_name, "name": link_name, "auth_type": "api_key", "param_type": "header",
        "parameters": [{"key": "X-Api-Key", "display_name": "API key"}], "base_url": base_url, "allowed_hosts": ["127.0.0.1"],
    }))


def api_key_connection(organisation, upstream_port: int, link_name: str = "bench") -> None:
    """The ``bench_api`` service on the local upstream and a connection ``link_name`` to it."""
    from connections_app.models import CustomService
    from connections_app.services import connection_create

    if not CustomService.objects.filter(organisation=organisation, link_name="bench_api").exists():
        api_key_service(organisation, "bench_api", f"http://127.0.0.1:{upstream_port}")
    connection_create(organisation=organisation, actor=None, name=link_name, link_name=link_name, service="bench_api",
                      scopes=None, credentials={"X-Api-Key": "bench-key"}, config=None)


def oauth2_service(organisation, link_name: str, base_url: str) -> None:
    from connections_app.services import custom_service_create, custom_service_parse

    custom_service_create(organisation=organisation, actor=None, definition=custom_service_parse({
        "link_name": link_name, "name": link_name, "auth_type": "oauth2", "base_url": base_url, "allowed_hosts": ["127.0.0.1"],
        "oauth2": {"client_id": "bench-client", "client_secret": "bench-secret", "authorize_url": f"{base_url}/oauth/authorize",
                   "token_url": f"{base_url}/oauth/token"},
    }))


def invoke_world():
    """A fresh bench database, an admin's API token, and the local upstream on a free port
    with the ``bench`` API-key connection to it: (token, upstream port, upstream process)."""
    import common

    common.fresh_start()
    up_port = common.free_port()
    organisation, token = admin_token()
    api_key_connection(organisation, up_port)
    return token, up_port, common.start_upstream(up_port)
