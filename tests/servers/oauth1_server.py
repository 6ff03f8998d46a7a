"""A real OAuth 1.0a (RFC 5849) provider for integration tests.

Built on Authlib's server side (``authlib.integrations.flask_oauth1``): the
signature checks, timestamp/nonce replay protection, temporary-credential and
verifier handling are Authlib's. This module adds in-memory storage, a consent
page, an HMAC-SHA256 signature method and a ``control`` object for tests.

Endpoints (relative to the server's base URL):

* ``POST /oauth1/request_token``  temporary credentials (``oauth_callback`` required)
* ``GET  /oauth1/authorize``      consent page (or immediate redirect if ``auto_approve``)
* ``POST /oauth1/authorize``      consent decision: form field ``confirm=yes|no``
* ``POST /oauth1/access_token``   token credentials (``oauth_verifier`` required)
* ``GET|POST /api/me``            protected; OAuth params in header, query or form body
* ``GET  /_stats``                counters as JSON
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from dataclasses import dataclass

from flask import Flask, Response, json, jsonify, request

from authlib.common.urls import add_params_to_uri
from authlib.integrations.flask_oauth1 import (
    AuthorizationServer,
    ResourceProtector,
    create_exists_nonce_func,
    register_nonce_hooks,
    register_temporary_credential_hooks,
)
from authlib.oauth1 import ClientMixin, OAuth1Request, TokenCredentialMixin
from authlib.oauth1.errors import OAuth1Error
from authlib.oauth1.rfc5849.signature import (
    SIGNATURE_HMAC_SHA1,
    SIGNATURE_PLAINTEXT,
    generate_signature_base_string,
)
from authlib.oauth1.rfc5849.util import escape as oauth_escape

from .scaffold import TESTER, ServerControl, consent_page, snapshot

SIGNATURE_HMAC_SHA256 = "HMAC-SHA256"


# --------------------------------------------------------------------------- #
# HMAC-SHA256 (not built into Authlib)
# --------------------------------------------------------------------------- #


def hmac_sha256_signature(base_string: str, client_secret: str | None, token_secret: str | None) -> str:
    """RFC 5849 §3.4.2 with SHA-256 in place of SHA-1 (same key and base string)."""
    key = f"{oauth_escape(client_secret or '')}&{oauth_escape(token_secret or '')}"
    digest = hmac.new(key.encode("utf-8"), base_string.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_hmac_sha256(req: OAuth1Request) -> bool:
    # Mirrors Authlib's verify_hmac_sha1: a client without a secret cannot use HMAC.
    if not req.client_secret:
        return False
    expected = hmac_sha256_signature(generate_signature_base_string(req), req.client_secret, req.token_secret)
    return hmac.compare_digest(expected, req.signature or "")


# --------------------------------------------------------------------------- #
# Models and storage
# --------------------------------------------------------------------------- #


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str
    default_redirect_uri: str | None = None

    def get_default_redirect_uri(self):
        return self.default_redirect_uri

    def get_client_secret(self):
        return self.client_secret

    def get_rsa_public_key(self):
        return None


@dataclass
class TokenCredential(TokenCredentialMixin):
    oauth_token: str
    oauth_token_secret: str
    client_id: str
    user_id: int
    revoked: bool = False

    def get_oauth_token(self):
        return self.oauth_token

    def get_oauth_token_secret(self):
        return self.oauth_token_secret

    def get_user_id(self):
        return self.user_id


class InMemoryCache:
    """The tiny cache interface Authlib's flask_oauth1 cache helpers expect
    (get/set/delete/has with a timeout), thread-safe and process-local."""

    def __init__(self):
        self._lock = threading.Lock()
        self._data: dict[str, tuple[float, object]] = {}

    def _live(self, key):
        item = self._data.get(key)
        if item is None:
            return None
        expires_at, value = item
        if expires_at and time.time() > expires_at:
            del self._data[key]
            return None
        return item

    def get(self, key):
        with self._lock:
            item = self._live(key)
            return item[1] if item else None

    def set(self, key, value, timeout=None):
        with self._lock:
            self._data[key] = (time.time() + timeout if timeout else 0, value)

    def delete(self, key):
        with self._lock:
            self._data.pop(key, None)

    def has(self, key):
        with self._lock:
            return self._live(key) is not None


# --------------------------------------------------------------------------- #
# Control
# --------------------------------------------------------------------------- #


class OAuth1ServerControl(ServerControl):
    """Configure and observe one OAuth 1.0a test server."""

    def __init__(self):
        super().__init__()
        self.token_credentials: list[TokenCredential] = []
        self.cache = InMemoryCache()
        # Methods accepted by every endpoint; narrow it to model a provider
        # that only speaks, say, HMAC-SHA1.
        self.signature_methods: list[str] = [SIGNATURE_HMAC_SHA1, SIGNATURE_PLAINTEXT, SIGNATURE_HMAC_SHA256]

    token_requests = snapshot("_token_requests", """Each request to ``/oauth1/request_token`` or ``/oauth1/access_token``:
        ``endpoint``, ``status``, ``signature_method``, ``signature_type``, ``args``, ``form``, ``headers``.""")
    resource_requests = snapshot("_resource_requests", """Each protected request: ``path``, ``method``, ``signature_method``,
        ``signature_type`` (HEADER/QUERY/BODY), ``ok``, ``error``.""")

    def register_client(self, client_id: str, client_secret: str, redirect_uri: str | None = None) -> Client:
        """``redirect_uri`` is the default callback, used when the client sends
        ``oauth_callback=oob``."""
        client = Client(client_id, client_secret, redirect_uri)
        with self.lock:
            self.clients[client_id] = client
        return client

    def revoke_all_tokens(self) -> int:
        """Invalidate every token credential (the provider forgot the grant)."""
        with self.lock:
            live = [t for t in self.token_credentials if not t.revoked]
            for cred in live:
                cred.revoked = True
            return len(live)

    def find_token(self, client_id: str, oauth_token: str) -> TokenCredential | None:
        with self.lock:
            for cred in self.token_credentials:
                if cred.oauth_token == oauth_token and cred.client_id == client_id and not cred.revoked:
                    return cred
        return None


# --------------------------------------------------------------------------- #
# Authlib server classes
# --------------------------------------------------------------------------- #


class _ControlledSignatureMethods:
    """The signature methods an endpoint accepts, read from the control at request time.

    Authlib's register_signature_method is a classmethod that writes into a dict shared by
    *every* Authlib OAuth 1 server in the process: each class below keeps a private copy,
    so HMAC-SHA256 stays scoped to these test servers."""

    def __init__(self, control: OAuth1ServerControl, app, **kwargs):
        self.control = control
        super().__init__(app, **kwargs)

    @property
    def SUPPORTED_SIGNATURE_METHODS(self):  # noqa: N802 - Authlib's name
        return self.control.signature_methods


class _Server(_ControlledSignatureMethods, AuthorizationServer):
    SIGNATURE_METHODS = dict(AuthorizationServer.SIGNATURE_METHODS)

    def handle_response(self, status_code, payload, headers):
        # Authlib puts the Python bool True in the temporary-credentials
        # payload, which url-encodes as "True"; RFC 5849 §2.1 requires the
        # literal "true", and strict clients compare against it.
        if isinstance(payload, list):
            payload = [(k, "true" if v is True else v) for k, v in payload]
        return super().handle_response(status_code, payload, headers)


class _Protector(_ControlledSignatureMethods, ResourceProtector):
    SIGNATURE_METHODS = dict(ResourceProtector.SIGNATURE_METHODS)


_Server.register_signature_method(SIGNATURE_HMAC_SHA256, verify_hmac_sha256)
_Protector.register_signature_method(SIGNATURE_HMAC_SHA256, verify_hmac_sha256)


def _describe_signature(req) -> tuple[str | None, str | None]:
    """(signature method, where the OAuth params were) for logging, tolerant
    of requests Authlib would reject (duplicated or malformed params)."""
    try:
        parsed = OAuth1Request(
            req.method,
            req.url,
            req.form.to_dict(flat=True) if req.method in ("POST", "PUT") else None,
            req.headers,
        )
    except (OAuth1Error, ValueError):
        return None, None
    return parsed.signature_method, parsed.signature_type


def _error_json(error: OAuth1Error):
    return Response(
        json.dumps(dict(error.get_body())),
        status=error.status_code,
        content_type="application/json",
    )


def create_oauth1_server(**options) -> tuple[Flask, OAuth1ServerControl]:
    """Build the Flask app and its control; ``options`` set initial control
    attributes (``auto_approve``, ``signature_methods``)."""
    control = OAuth1ServerControl()
    for name, value in options.items():
        if name not in ("auto_approve", "signature_methods"):
            raise TypeError(f"unknown oauth1 server option {name!r}")
        setattr(control, name, value)

    app = Flask(__name__)

    def query_client(client_id):
        with control.lock:
            return control.clients.get(client_id)

    server = _Server(control, app, query_client=query_client)
    # Authlib's ready-made hooks store temporary credentials and nonces in any
    # object with a cache interface; ours is in-memory.
    register_temporary_credential_hooks(server, control.cache)
    register_nonce_hooks(server, control.cache)

    def create_token_credential(token, temporary_credential):
        cred = TokenCredential(
            oauth_token=token["oauth_token"],
            oauth_token_secret=token["oauth_token_secret"],
            client_id=temporary_credential.get_client_id(),
            user_id=temporary_credential.get_user_id(),
        )
        with control.lock:
            control.token_credentials.append(cred)
        return cred

    server.register_hook("create_token_credential", create_token_credential)

    protector = _Protector(
        control,
        app,
        query_client=query_client,
        query_token=control.find_token,
        exists_nonce=create_exists_nonce_func(control.cache),
    )

    def record_token_request(endpoint, response):
        method, sig_type = _describe_signature(request)
        with control.lock:
            control._token_requests.append(
                {
                    "endpoint": endpoint,
                    "status": response.status_code,
                    "signature_method": method,
                    "signature_type": sig_type,
                    "args": request.args.to_dict(flat=True),
                    "form": request.form.to_dict(flat=True),
                    "headers": dict(request.headers),
                    "time": time.time(),
                }
            )
            if response.status_code == 200:
                control._grant_counts[endpoint] += 1

    @app.post("/oauth1/request_token")
    def request_token():
        response = server.create_temporary_credentials_response()
        record_token_request("request_token", response)
        return response

    def authorization_response(approved: bool):
        if approved:
            return server.create_authorization_response(grant_user=TESTER)
        response = server.create_authorization_response(grant_user=None)
        # Authlib redirects with error=access_denied; Twitter-style providers
        # (and clients written for them) use denied=<request token> instead.
        # Send both so either kind of client recognises the refusal.
        response.location = add_params_to_uri(response.location, [("denied", request.args["oauth_token"])])
        return response

    @app.get("/oauth1/authorize")
    def authorize_page():
        control.record_authorization_request()
        try:
            req = server.check_authorization_request()
        except OAuth1Error as error:
            return _error_json(error)
        if control.auto_approve:
            return authorization_response(True)
        return consent_page(req.credential.get_client_id(), "access to your account.")

    @app.post("/oauth1/authorize")
    def authorize_decision():
        control.record_authorization_request()
        try:
            return authorization_response(request.form.get("confirm") == "yes")
        except OAuth1Error as error:
            return _error_json(error)

    @app.post("/oauth1/access_token")
    def access_token():
        response = server.create_token_response()
        record_token_request("access_token", response)
        return response

    @app.route("/api/me", methods=["GET", "POST"])
    def api_me():
        method, sig_type = _describe_signature(request)

        def record(ok, error=None):
            with control.lock:
                control._resource_requests.append(
                    {
                        "path": request.path,
                        "method": request.method,
                        "signature_method": method,
                        "signature_type": sig_type,
                        "ok": ok,
                        "error": error,
                        "time": time.time(),
                    }
                )

        try:
            cred = protector.acquire_credential()
        except OAuth1Error as error:
            record(False, error.error)
            return _error_json(error)
        except ValueError:
            # Authlib raises a bare ValueError for a non-OAuth Authorization header.
            record(False, "invalid_request")
            return jsonify({"error": "invalid_request", "error_description": "Malformed Authorization header."}), 400
        record(True)
        return jsonify(
            {
                "user": TESTER.username if cred.user_id == TESTER.id else None,
                "client_id": cred.client_id,
                "signature_method": method,
                "signature_type": sig_type,
            }
        )

    @app.get("/_stats")
    def stats():
        return jsonify(control.stats())

    app.extensions["oauth1_test_control"] = control
    return app, control
