"""Plain helpers that build what tests need through the product's own API: service
definitions, services, connections and invokes. Fixtures live in tests/conftest.py; the one
bound to the loopback servers (``loopback_service``) wraps ``make_service`` below."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
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


# -- OAuth against the servers in tests/servers ------------------------------------------
CALLBACK = "http://testserver/oauth/callback"
CLIENT_SECRET = "client-secret-canary-7f3a"


def oauth2_service(provider, link_name="acme_oauth", **oauth2):
    """A custom OAuth 2.0 service on ``provider`` (tests/servers/oauth2_server.py), not yet posted."""
    config = {
        "client_id": "cnx-client", "client_secret": CLIENT_SECRET,
        "authorize_url": f"{provider.url}/oauth/authorize", "token_url": f"{provider.url}/oauth/token",
        "revoke_url": f"{provider.url}/oauth/revoke", "authorize_params": {"access_type": "offline"},
    }
    config.update(oauth2)
    return {
        "link_name": link_name, "name": "Acme OAuth", "auth_type": "oauth2", "param_type": "header",
        "base_url": provider.url, "allowed_hosts": ["127.0.0.1"], "verify": {"method": "GET", "path": "/api/me"},
        "scopes": [{"name": "read", "display_name": "Read"}, {"name": "write", "display_name": "Write"}],
        "oauth2": config,
    }


def start(browser, authorize_url: str):
    """Open the one-time link (the Continue page), continue; return the provider URL we were sent to."""
    page = browser.get(urlsplit(authorize_url).path)
    assert page.status_code == 200 and b"Continue" in page.content, page.content
    assert page["Referrer-Policy"] == "same-origin" and "no-store" in page["Cache-Control"]
    response = browser.post(urlsplit(authorize_url).path)
    assert response.status_code == 302, response.content
    assert response["Referrer-Policy"] == "no-referrer" and "no-store" in response["Cache-Control"]
    return response["Location"]


def consent(provider_url: str) -> str:
    """Visit the provider (auto-approve); return our callback URL with code and state."""
    response = requests.get(provider_url, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def finish(browser, callback_url: str):
    parts = urlsplit(callback_url)
    return browser.get(f"{parts.path}?{parts.query}")


def give_consent(browser, authorize_url: str):
    """A whole consent (OAuth 1.0a or 2.0) with the provider approving (its ``auto_approve``):
    our one-time link, the provider, our callback; return the callback's response."""
    return finish(browser, consent(start(browser, authorize_url)))


def new_key(kind="rsa") -> tuple[str, object]:
    """A fresh private key as PEM, and its public half as an authorization server holds it."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048) if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    public = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, (RSAKey if kind == "rsa" else ECKey).import_key(public)


def new_certificate(kind="rsa") -> tuple[str, str]:
    """A fresh private key as PEM and a self-signed X.509 certificate for it (PEM), as a
    SAML 2.0 bearer client registers it (SAP SuccessFactors' OAuth client)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048) if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "connections-test")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1)).sign(private, hashes.SHA256()))
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    return pem, cert.public_bytes(serialization.Encoding.PEM).decode()


def error_of(html: str, field: str) -> str:
    """The error list a page renders next to a field (Django gives it id="id_<field>_error")."""
    match = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', html, re.S)
    assert match, f"no error next to {field}"
    return re.sub(r"<[^>]+>", " ", match.group(1))


def inside_one_window(seconds: int = 60, margin: float = 10.0) -> None:
    """The invoke throttle's windows start on the clock (rate_limit.invoke_window): wait out
    the end of the current one, so that a burst a test counts is not split across two."""
    left = seconds - time.time() % seconds
    if left < margin:
        time.sleep(left + 0.1)
