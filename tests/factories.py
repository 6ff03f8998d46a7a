"""Plain helpers that build what tests need through the product's own API: service
definitions, services, connections and invokes. Fixtures live in tests/conftest.py; the one
bound to the loopback servers (``loopback_service``) wraps ``make_service`` below."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import ECKey, RSAKey

SECRET = "upstream-secret-0001"  # what tests.upstream.Upstream accepts


def api_key_service(link_name="acme_crm", *, base_url="https://api.acme.example", param_type="header", keys=("X-Api-Key",), **extra):
    """An API key service definition (not yet posted)."""
    data = {
        "link_name": link_name, "name": "Acme CRM", "auth_type": "api_key", "param_type": param_type,
        "parameters": [{"key": k, "display_name": k} for k in keys], "base_url": base_url,
    }
    data.update(extra)
    return data


def plain_http_entries(hosts, ports) -> list[str]:
    """Allowed-host entries reaching loopback test servers: each bare loopback name becomes
    an explicit ``http://host:port`` entry per port (bare hosts mean https on 443)."""
    out = []
    for host in hosts:
        if host in ("127.0.0.1", "localhost") and "://" not in host:
            out += [f"http://{host}:{port}" for port in ports]
        else:
            out.append(host)
    return out


def make_service(admin, link_name="acme_api", *, auth_type="api_key", param_type="header", key="X-Api-Key", hosts=("127.0.0.1",),
                 ports=(), base_url=None, **extra):
    """Create a custom service through the API and return its definition.

    Without ``ports`` a bare loopback host yields no entry, so the allowed hosts come from
    ``base_url``; the ``loopback_service`` fixture passes the test servers' ports."""
    data = {"link_name": link_name, "name": link_name, "auth_type": auth_type, "param_type": param_type,
            "allowed_hosts": plain_http_entries(hosts, ports)}
    if auth_type == "api_key":
        data["parameters"] = [{"key": key, "display_name": key}]
    if base_url:
        data["base_url"] = base_url
    data.update(extra)
    response = admin.post("/api/v1/services/", data, format="json")
    assert response.status_code == 201, response.content
    return data


def make_connection(client, service, link_name="acme_main", credentials=None):
    response = client.post(
        "/api/v1/connections/", {"name": "Acme main", "link_name": link_name, "service": service, "credentials": credentials or {}},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def invoke(client, **body):
    body.setdefault("connection", "acme_main")
    return client.post("/api/v1/invoke/", body, format="json")


def give_consent(browser, authorize_url: str):
    """Walk a consent through: press Continue on our one-time link (``browser`` is a Django
    test client keeping the binding cookie), let the provider approve (its ``auto_approve``),
    and return our callback's response."""
    start = browser.post(urlsplit(authorize_url).path)
    assert start.status_code == 302, start.content
    at_provider = requests.get(start["Location"], allow_redirects=False, timeout=10)
    assert at_provider.status_code == 302, at_provider.text
    back = urlsplit(at_provider.headers["Location"])
    return browser.get(f"{back.path}?{back.query}")


def new_key(kind="rsa") -> tuple[str, object]:
    """A fresh private key as PEM, and its public half as an authorization server holds it."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048) if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    public = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, (RSAKey if kind == "rsa" else ECKey).import_key(public)
