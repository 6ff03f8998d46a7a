"""A real OAuth 2.0 authorization + resource server for integration tests.

Built on Authlib's server side (``authlib.integrations.flask_oauth2``) so the
protocol rules (client authentication, code binding, PKCE, redirect_uri checks,
RFC 7009 revocation, RFC 9207 ``iss``) are Authlib's, not ours. What this module
adds is in-memory storage, a consent page, and a ``control`` object through
which tests steer behaviour (faults, rotation, lifetimes) and observe traffic.

Usage::

    app, control = create_oauth2_server(auto_approve=True)
    control.register_client("cid", "secret", ["http://127.0.0.1/cb"], scope="read write")
    server = start_wsgi(app)            # tests.servers.runner
    ... point the product at f"{server.url}/oauth/authorize" etc ...
    assert control.grant_counts["authorization_code"] == 1

Endpoints (all relative to the server's base URL):

* ``GET  /oauth/authorize``  consent page (or immediate redirect if ``auto_approve``)
* ``POST /oauth/authorize``  consent decision: form field ``confirm=yes|no``
* ``POST /oauth/token``      token endpoint, form-encoded or, with ``token_request_format = "json"``,
  a JSON object body only (a form is refused with ``invalid_request``) (authorization_code, refresh_token,
  client_credentials, and the RFC 7523 JWT bearer grant: the assertion's signature is
  verified with the issuer client's ``public_key``); clients may authenticate with
  ``private_key_jwt`` (RFC 7523 section 2.2, verified the same way); and the RFC 7522
  SAML 2.0 bearer grant (the assertion's XML signature verified with signxml against the
  client's registered ``certificate``, its issuer, audience, recipient and time window)
* ``POST /oauth/revoke``     RFC 7009 revocation
* ``GET|POST /api/me``       protected resource, ``Authorization: Bearer <tok>``
  (or any word in ``control.extra_token_types``)
* ``GET|POST /api/me-param`` protected resource, ``access_token`` query/form param
* ``GET  /_stats``           counters as JSON
"""

from __future__ import annotations

import base64
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from flask import Flask, Response, json, jsonify, request
from lxml import etree
from markupsafe import escape
from signxml import XMLVerifier
from signxml.exceptions import SignXMLException
from werkzeug.datastructures import MultiDict

from authlib.common.security import generate_token
from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    BaseGrant,
    InvalidGrantError,
    TokenEndpointMixin,
    UnauthorizedClientError,
    ClientMixin,
    InvalidRequestError,
    OAuth2Request,
    TokenMixin,
    UnsupportedTokenTypeError,
    grants,
)
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6749.util import list_to_scope, scope_to_list
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion, JWTBearerGrant
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9207 import IssuerParameter

from .scaffold import TESTER, ServerControl, User, consent_page, snapshot

TOKEN_FAULTS = (
    None,
    "500",
    "html",
    "garbage_json",
    "missing_access_token",
    "huge",
    "invalid_grant",
    "slow",
)

# Authlib's grants default to client_secret_basic only (except the code grant,
# which adds client_secret_post). Widen every grant to all three methods and let
# Client.check_endpoint_auth_method enforce the one the client registered with,
# so a product sending the wrong method gets invalid_client as it would in prod.
_ALL_CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none", "private_key_jwt", "client_secret_query"]
JWT_BEARER = JWTBearerGrant.GRANT_TYPE
SAML2_BEARER = "urn:ietf:params:oauth:grant-type:saml2-bearer"


# --------------------------------------------------------------------------- #
# Models (plain objects implementing Authlib's mixins)
# --------------------------------------------------------------------------- #


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str | None
    redirect_uris: list[str]
    scope: str = ""
    token_endpoint_auth_method: str | tuple[str, ...] = "client_secret_post"
    grant_types: list[str] = field(
        default_factory=lambda: ["authorization_code", "refresh_token", "client_credentials"]
    )
    response_types: list[str] = field(default_factory=lambda: ["code"])
    # The public half of the key the client signs with (JWT bearer grant, private_key_jwt).
    public_key: object = None
    # The X.509 certificate (PEM) that verifies the client's SAML 2.0 bearer assertions.
    certificate: str | None = None
    # None: the revocation endpoint accepts any secret-based method (basic or
    # post), because Authlib's own client defaults to basic for revocation even
    # when it uses post at the token endpoint, and real providers are lenient.
    revocation_endpoint_auth_method: str | None = None

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope):
        # Omitted scope means "everything registered" (RFC 6749 §3.3 default);
        # unknown scopes are silently dropped, like most real providers do.
        if not scope:
            return self.scope
        allowed = set(scope_to_list(self.scope) or [])
        return list_to_scope([s for s in scope_to_list(scope) if s in allowed])

    def check_redirect_uri(self, redirect_uri):
        # Exact string match, as RFC 9700 requires.
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret):
        if not self.client_secret:
            return False
        return secrets.compare_digest(self.client_secret, client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        if endpoint == "token":  # a tuple: a server taking either method (Keap)
            allowed = self.token_endpoint_auth_method
            return method in allowed if isinstance(allowed, tuple) else method == allowed
        if self.revocation_endpoint_auth_method:
            return method == self.revocation_endpoint_auth_method
        if self.token_endpoint_auth_method == "none":
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type):
        return response_type in self.response_types

    def check_grant_type(self, grant_type):
        return grant_type in self.grant_types


@dataclass
class AuthorizationCode(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str | None
    scope: str
    user_id: int
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    issued_at: float = field(default_factory=time.time)

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def is_expired(self, lifetime):
        return time.time() > self.issued_at + lifetime


@dataclass
class Token(TokenMixin):
    access_token: str
    refresh_token: str | None
    client: Client
    user_id: int | None
    scope: str
    grant_type: str
    # None: the response carried no expires_in, so the token never expires.
    expires_in: int | None
    issued_at: float = field(default_factory=time.time)
    access_token_revoked: bool = False
    refresh_token_revoked: bool = False
    # The JWT bearer grant's subject (a user other than TESTER).
    user_name: str | None = None

    @property
    def client_id(self):
        return self.client.client_id

    def check_client(self, client):
        return client.get_client_id() == self.client.client_id

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return self.expires_in

    def is_expired(self):
        if self.expires_in is None:
            return False
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self):
        return self.access_token_revoked

    def get_user(self):
        if self.user_id == TESTER.id:
            return TESTER
        return User(id=self.user_id, username=self.user_name) if self.user_name else None

    def get_client(self):
        return self.client


# --------------------------------------------------------------------------- #
# Control: the test-facing knobs and observations
# --------------------------------------------------------------------------- #


class OAuth2ServerControl(ServerControl):
    """Configure and observe one OAuth 2.0 test server (see ``ServerControl``)."""

    LOGS = (*ServerControl.LOGS, "_grant_attempts", "_revoked", "_revocation_requests")

    def __init__(self):
        super().__init__()

        # --- storage ---
        self.authorization_codes: dict[str, AuthorizationCode] = {}
        self.tokens: list[Token] = []

        # --- behaviour ---
        self.require_pkce = False
        self.rotate_refresh_tokens = True
        self.issue_refresh_tokens = True
        self.access_token_lifetime: int | None = 3600
        self.authorization_code_lifetime = 600
        self.send_iss = False
        self.issuer: str | None = None  # None: the server's own base URL
        self.token_fault: str | None = None
        # How many token requests the fault applies to; None = until cleared.
        self.token_fault_times: int | None = None
        self.slow_seconds = 5.0
        self.huge_bytes = 10 * 1024 * 1024
        self.token_delay_seconds = 0.0
        self.refresh_fault_invalid_grant = False
        self.extra_token_types: list[str] = []
        # Extra members of every token answer (instance_url, api_domain, team) and extra
        # query parameters of the consent redirect (realmId), as real providers send.
        self.token_response_extra: dict = {}
        self.callback_extra: dict = {}
        # eBay's RuNames: a client registers a name as its redirect_uri (Authlib matches it
        # exactly, as eBay does) and the browser is sent to the name's accept URL.
        self.redirect_names: dict[str, str] = {}
        # Parameters every client-credentials request must carry, with these values
        # (Greenhouse's sub: the user the token acts as); otherwise invalid_request.
        self.required_token_params: dict[str, str] = {}
        # JWT bearer: audiences accepted besides the token URL; subjects that exist.
        self.jwt_audiences: list[str] = []
        self.jwt_subjects: set[str] = {"tester@example.com"}
        # SAML 2.0 bearer: audiences accepted besides the token URL; the company_id the
        # body must carry (SuccessFactors), or None for none.
        self.saml_audiences: list[str] = []
        self.saml_company_id: str | None = None
        # "json": the token endpoint reads only a JSON object body (monday.com's OAuth 2.1
        # token endpoint, as its own material shows it); a form body is refused.
        self.token_request_format = "form"

        # --- observations ---
        self._grant_attempts: Counter = Counter()
        self._revoked: list[str] = []
        self._revocation_requests: list[dict] = []
        self._assertions: list[dict] = []
        self._seen_jti: set[str] = set()

    # ----- configuration -------------------------------------------------- #

    def register_client(
        self,
        client_id: str,
        client_secret: str | None,
        redirect_uris,
        scope: str = "",
        token_endpoint_auth_method: str | tuple[str, ...] = "client_secret_post",
        grant_types=("authorization_code", "refresh_token", "client_credentials"),
        revocation_endpoint_auth_method: str | None = None,
        public_key=None,
        certificate: str | None = None,
    ) -> Client:
        """Register (or replace) a client. ``token_endpoint_auth_method`` is
        enforced strictly at the token endpoint; use ``"none"`` (and no secret)
        for a public PKCE client."""
        if isinstance(redirect_uris, str):
            redirect_uris = [redirect_uris]
        if not set(token_endpoint_auth_method if isinstance(token_endpoint_auth_method, tuple)
                   else [token_endpoint_auth_method]) <= set(_ALL_CLIENT_AUTH_METHODS):
            raise ValueError(f"unsupported auth method {token_endpoint_auth_method!r}")
        client = Client(
            client_id=client_id,
            client_secret=client_secret,
            redirect_uris=list(redirect_uris),
            scope=scope,
            token_endpoint_auth_method=token_endpoint_auth_method,
            grant_types=list(grant_types),
            revocation_endpoint_auth_method=revocation_endpoint_auth_method,
            public_key=public_key,
            certificate=certificate,
        )
        with self.lock:
            self.clients[client_id] = client
        return client

    def set_token_fault(self, fault: str | None, times: int | None = None) -> None:
        """Make the next ``times`` token requests (None: all) fail with ``fault``."""
        if fault not in TOKEN_FAULTS:
            raise ValueError(f"unknown token fault {fault!r}; expected one of {TOKEN_FAULTS}")
        with self.lock:
            self.token_fault = fault
            self.token_fault_times = times

    def revoke_all_access_tokens(self) -> int:
        """Kill every access token (refresh tokens stay usable), as when a
        provider invalidates sessions early. Returns how many were live."""
        with self.lock:
            live = [t for t in self.tokens if not t.access_token_revoked]
            for tok in live:
                tok.access_token_revoked = True
            return len(live)

    # ----- observation ---------------------------------------------------- #

    grant_attempts = snapshot("_grant_attempts", """Token requests received, by ``grant_type`` form value, including ones
        that failed or were answered by an injected fault.""")
    token_requests = snapshot("_token_requests", """One dict per token request: ``grant_type``, ``form`` (dict),
        ``json`` (the JSON object body, or None), ``args``, ``headers`` (dict), ``client_auth_method`` (as sent), ``time``.""")
    assertions = snapshot("_assertions", """Verified assertions, in order: ``kind`` (``grant`` or ``client``: JWTs,
        with ``header`` and ``claims``; ``saml``: with ``issuer``, ``subject``, ``audience``, ``recipient``, ``form``).""")
    revoked = snapshot("_revoked", """Token strings accepted by ``/oauth/revoke`` (RFC 7009 answers 200 even
        for unknown tokens, so unknown ones are listed too).""")
    revocation_requests = snapshot("_revocation_requests", "Every revocation request (``form``, ``headers``, ``status``).")
    resource_requests = snapshot("_resource_requests", """One dict per protected-resource hit: ``path``, ``via`` (the token-type
        word lowercased, or ``query``/``form``), ``ok``, ``error``.""")

    @property
    def revocation_count(self) -> int:
        with self.lock:
            return len(self._revoked)

    def stats(self) -> dict:
        with self.lock:
            return {**super().stats(), "grant_attempts": dict(self._grant_attempts), "revocation_count": len(self._revoked)}

    # ----- storage lookups (also handy in tests) --------------------------- #

    def find_token(self, *, access_token=None, refresh_token=None) -> Token | None:
        with self.lock:
            for tok in self.tokens:
                if access_token is not None and tok.access_token == access_token:
                    return tok
                if refresh_token is not None and tok.refresh_token == refresh_token:
                    return tok
        return None

    # ----- internal recording --------------------------------------------- #

    def _record_token_request(self, req, body: dict | None = None) -> None:
        """``body``: the parameters of a JSON object body (None: a form, or no JSON object)."""
        auth = req.headers.get("Authorization", "")
        params = body if body is not None else req.form
        if auth.lower().startswith("basic "):
            method = "client_secret_basic"
        elif params.get("client_assertion"):
            method = "private_key_jwt"
        elif params.get("client_secret"):
            method = "client_secret_post"
        elif req.args.get("client_secret"):
            method = "client_secret_query"
        else:
            method = "none"
        grant_type = params.get("grant_type") or req.args.get("grant_type")  # Marketo's has it in the query
        with self.lock:
            self._grant_attempts[grant_type] += 1
            self._token_requests.append(
                {
                    "grant_type": grant_type,
                    "form": req.form.to_dict(flat=True),
                    "json": body,
                    "args": req.args.to_dict(flat=True),
                    "headers": dict(req.headers),
                    "client_auth_method": method,
                    "time": time.time(),
                }
            )

    def _take_token_fault(self) -> str | None:
        """Return the fault for this request and consume one use of it."""
        with self.lock:
            fault = self.token_fault
            if fault and self.token_fault_times is not None:
                self.token_fault_times -= 1
                if self.token_fault_times <= 0:
                    self.token_fault = None
                    self.token_fault_times = None
            return fault

    def _record_resource(self, path, via, ok, error=None) -> None:
        with self.lock:
            self._resource_requests.append(
                {"path": path, "via": via, "ok": ok, "error": error, "time": time.time()}
            )


# --------------------------------------------------------------------------- #
# Authlib grants, endpoint and validators bound to a control
# --------------------------------------------------------------------------- #


def _make_grants(control: OAuth2ServerControl):
    class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = _ALL_CLIENT_AUTH_METHODS

        def save_authorization_code(self, code, req):
            data = req.payload.data
            item = AuthorizationCode(
                code=code,
                client_id=req.client.get_client_id(),
                # Store what the client sent (not the default) so Authlib only
                # demands redirect_uri at the token endpoint when it was sent here.
                redirect_uri=req.payload.redirect_uri,
                scope=req.scope,
                user_id=req.user.get_user_id(),
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
            )
            with control.lock:
                control.authorization_codes[code] = item

        def query_authorization_code(self, code, client):
            with control.lock:
                item = control.authorization_codes.get(code)
            if (
                item
                and item.client_id == client.get_client_id()
                and not item.is_expired(control.authorization_code_lifetime)
            ):
                return item
            return None

        def delete_authorization_code(self, authorization_code):
            with control.lock:
                control.authorization_codes.pop(authorization_code.code, None)

        def authenticate_user(self, authorization_code):
            return TESTER if authorization_code.user_id == TESTER.id else None

    class RefreshTokenGrant(grants.RefreshTokenGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = _ALL_CLIENT_AUTH_METHODS

        def authenticate_refresh_token(self, refresh_token):
            tok = control.find_token(refresh_token=refresh_token)
            if tok and not tok.refresh_token_revoked:
                return tok
            return None

        def authenticate_user(self, refresh_token):
            return refresh_token.get_user()

        def issue_token(self, user, refresh_token):
            # Authlib reads this class attribute; shadow it per request so
            # tests can toggle rotation on a running server.
            self.INCLUDE_NEW_REFRESH_TOKEN = control.rotate_refresh_tokens
            return super().issue_token(user, refresh_token)

        def revoke_old_credential(self, refresh_token):
            # Only the refresh token dies; the old access token lives until it
            # expires, as with most real providers.
            if control.rotate_refresh_tokens:
                refresh_token.refresh_token_revoked = True

    class ClientCredentialsGrant(grants.ClientCredentialsGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "client_secret_query"]

        def validate_token_request(self):
            super().validate_token_request()
            data = self.request.payload.data
            for name, value in control.required_token_params.items():
                if data.get(name) != value:
                    raise InvalidRequestError(f"Missing or wrong '{name}'")

    class JWTGrant(JWTBearerGrant):
        """RFC 7523 section 2.1: the issuer is a registered client; its public key verifies
        the assertion (Authlib checks signature, aud, exp); ``sub`` must be a known user."""

        def resolve_issuer_client(self, issuer):
            with control.lock:
                return control.clients.get(issuer)

        def resolve_client_public_key(self, client):
            return client.public_key

        def get_audiences(self):
            return [request.base_url, *control.jwt_audiences]

        def process_assertion_claims(self, assertion):
            claims = super().process_assertion_claims(assertion)
            _record_assertion(control, "grant", assertion, claims)
            return claims

        def authenticate_user(self, subject):
            return User(id=2, username=subject) if subject in control.jwt_subjects else None

        def has_granted_permission(self, client, user):
            return True

    return AuthorizationCodeGrant, RefreshTokenGrant, ClientCredentialsGrant, JWTGrant


def _record_assertion(control, kind, assertion, claims):
    from joserfc import jws

    header = jws.extract_compact(assertion.encode()).headers()
    with control.lock:
        control._assertions.append({"kind": kind, "header": dict(header), "claims": dict(claims)})


def _authenticate_client_secret_query(query_client, req):
    """``client_secret_query``, registered with Authlib's server as a client auth method:
    client_id and client_secret in the token URL's query string (Marketo's identity endpoint).
    Authlib then checks the client registered this method for the endpoint."""
    client_id, client_secret = req.args.get("client_id"), req.args.get("client_secret")
    if client_id and client_secret:
        client = query_client(client_id)
        if client and client.check_client_secret(client_secret):
            return client
    return None


def _make_saml2_grant(control: OAuth2ServerControl):
    ns = {"saml2": "urn:oasis:names:tc:SAML:2.0:assertion"}
    leeway = timedelta(seconds=60)

    class SAML2BearerGrant(BaseGrant, TokenEndpointMixin):
        """RFC 7522: the client (named in the body, or authenticated) presents a SAML 2.0
        assertion signed with the key of its registered certificate; only what the signature
        covers is read. Issuer = the client, Audience and Recipient = this token URL (or
        ``saml_audiences``), the time window holds, the NameID is a known user."""

        GRANT_TYPE = SAML2_BEARER
        TOKEN_ENDPOINT_AUTH_METHODS = ["none", "client_secret_basic", "client_secret_post"]

        def validate_token_request(self):
            form = self.request.form
            client = self.authenticate_token_endpoint_client()
            if not client.check_grant_type(self.GRANT_TYPE):
                raise UnauthorizedClientError(f"The client is not authorized to use 'grant_type={self.GRANT_TYPE}'")
            if control.saml_company_id and form.get("company_id") != control.saml_company_id:
                raise InvalidRequestError("Missing or unknown 'company_id'")
            raw = form.get("assertion") or ""
            try:
                xml = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
                signed = XMLVerifier().verify(xml, x509_cert=client.certificate).signed_xml
            except (SignXMLException, ValueError, etree.LxmlError) as exc:
                raise InvalidGrantError(description=f"The assertion's signature does not verify ({type(exc).__name__}).") from None

            def text(path):
                found = signed.find(path, ns)
                return found.text if found is not None else None

            def attribute(path, name):
                found = signed.find(path, ns)
                return found.get(name) if found is not None else None

            def instant(value):
                return datetime.strptime(value or "", "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)

            now = datetime.now(timezone.utc)
            audiences = [request.base_url, *control.saml_audiences]
            try:
                in_time = (instant(attribute("saml2:Conditions", "NotBefore")) - leeway <= now
                           < instant(attribute("saml2:Conditions", "NotOnOrAfter")) + leeway)
            except ValueError:
                in_time = False
            confirmation = "saml2:Subject/saml2:SubjectConfirmation/saml2:SubjectConfirmationData"
            if text("saml2:Issuer") != client.client_id:
                raise InvalidGrantError(description="The assertion's issuer is not the client.")
            if text("saml2:Conditions/saml2:AudienceRestriction/saml2:Audience") not in audiences:
                raise InvalidGrantError(description="The assertion is not for this audience.")
            if attribute(confirmation, "Recipient") not in audiences:
                raise InvalidGrantError(description="The assertion is not for this recipient.")
            if not in_time:
                raise InvalidGrantError(description="The assertion is outside its time window.")
            subject = text("saml2:Subject/saml2:NameID")
            if subject not in control.jwt_subjects:
                raise InvalidGrantError(description="Invalid subject in assertion")
            with control.lock:
                control._assertions.append({
                    "kind": "saml", "issuer": text("saml2:Issuer"), "subject": subject,
                    "audience": text("saml2:Conditions/saml2:AudienceRestriction/saml2:Audience"),
                    "recipient": attribute(confirmation, "Recipient"),
                    "form": {k: v for k, v in form.items() if k != "assertion"},
                })
            self.request.client = client
            self.request.user = User(id=3, username=subject)
            self.validate_requested_scope()

        def create_token_response(self):
            token = self.generate_token(user=self.request.user, scope=self.request.payload.scope, include_refresh_token=False)
            self.save_token(token)
            return 200, token, self.TOKEN_RESPONSE_HEADER

    return SAML2BearerGrant


def _make_private_key_jwt(control: OAuth2ServerControl):
    class PrivateKeyJWTAuth(JWTBearerClientAssertion):
        """RFC 7523 section 2.2 client authentication, verified with the client's public key."""

        CLIENT_AUTH_METHOD = "private_key_jwt"

        def get_audiences(self):
            return [request.base_url]

        def resolve_client_public_key(self, client):
            return client.public_key

        def validate_jti(self, claims, jti):
            with control.lock:
                if jti in control._seen_jti:
                    return False
                control._seen_jti.add(jti)
                return True

        def process_assertion_claims(self, assertion, resolve_key):
            claims = super().process_assertion_claims(assertion, resolve_key)
            _record_assertion(control, "client", assertion, claims)
            return claims

    return PrivateKeyJWTAuth()


class _JsonTokenRequest(FlaskOAuth2Request):
    """A token request whose parameters are a JSON object body: Authlib's grants and client
    auth methods read them as they read a form (``payload`` and ``form``)."""

    def __init__(self, request, body: dict):
        super().__init__(request)
        self.payload = BasicOAuth2Payload(body)
        self._body = MultiDict(body)

    @property
    def form(self):
        return self._body


class _Server(AuthorizationServer):
    def create_oauth2_request(self, request):
        # A token request the endpoint built itself (a JSON body) is used as it is.
        return request if isinstance(request, OAuth2Request) else super().create_oauth2_request(request)


def json_object_body(req) -> dict | None:
    """The parameters of a JSON object body whose values are strings, or None."""
    if req.mimetype != "application/json":
        return None
    body = req.get_json(silent=True)
    if not isinstance(body, dict) or not all(isinstance(v, str) for v in body.values()):
        return None
    return body


class _PKCE(CodeChallenge):
    """Authlib's PKCE check (S256/plain verified whenever a challenge was sent),
    plus an on/off switch that makes a S256 challenge mandatory."""

    def __init__(self, control: OAuth2ServerControl):
        super().__init__(required=False)
        self.control = control

    def validate_code_challenge(self, grant, redirect_uri):
        super().validate_code_challenge(grant, redirect_uri)
        if self.control.require_pkce:
            data = grant.request.payload.data
            if not data.get("code_challenge"):
                raise InvalidRequestError("Missing 'code_challenge'")
            if data.get("code_challenge_method") != "S256":
                raise InvalidRequestError("'code_challenge_method' must be S256")


class _Issuer(IssuerParameter):
    """RFC 9207 ``iss`` on authorization responses, switchable at runtime."""

    def __init__(self, control: OAuth2ServerControl):
        self.control = control

    def get_issuer(self):
        if not self.control.send_iss:
            return None
        return self.control.issuer or request.host_url.rstrip("/")


def _make_revocation_endpoint(control: OAuth2ServerControl):
    class Revocation(RevocationEndpoint):
        # Authlib's default is client_secret_basic only.
        CLIENT_AUTH_METHODS = _ALL_CLIENT_AUTH_METHODS

        def query_token(self, token_string, token_type_hint):
            # The hint is only a hint (RFC 7009 §2.1): fall back to the other kind.
            if token_type_hint == "refresh_token":
                return control.find_token(refresh_token=token_string) or control.find_token(
                    access_token=token_string
                )
            return control.find_token(access_token=token_string) or control.find_token(
                refresh_token=token_string
            )

        def revoke_token(self, token, req):
            # Revoking a refresh token also kills its access token (RFC 7009
            # §2.1 SHOULD); revoking an access token leaves the refresh token.
            with control.lock:
                token.access_token_revoked = True
                if req.form["token"] == token.refresh_token:
                    token.refresh_token_revoked = True

    return Revocation


class _TokenStoreValidator(BearerTokenValidator):
    """Bearer validation against the in-memory store; ``token_type`` lets the same
    logic serve non-standard words such as ``Zoho-oauthtoken``."""

    def __init__(self, control: OAuth2ServerControl, token_type: str = "bearer"):
        super().__init__()
        # ResourceProtector looks validators up by the lowercased header word.
        self.TOKEN_TYPE = token_type.lower()
        self.control = control

    def authenticate_token(self, token_string):
        return self.control.find_token(access_token=token_string)


class _ConfigurableProtector(ResourceProtector):
    """Accepts ``Bearer`` plus whatever ``control.extra_token_types`` lists *now*.

    Authlib only consults validators registered up front; registering lazily
    here lets tests add a word after the server has started, and removing it
    from the list makes it unsupported again.
    """

    def __init__(self, control: OAuth2ServerControl):
        super().__init__()
        self.control = control
        self.register_token_validator(_TokenStoreValidator(control))

    def get_token_validator(self, token_type):
        word = token_type.lower()
        allowed = {"bearer"} | {w.lower() for w in self.control.extra_token_types}
        if word not in allowed:
            raise UnsupportedTokenTypeError(self._default_auth_type, self._default_realm)
        with self.control.lock:
            if word not in self._token_validators:
                self.register_token_validator(_TokenStoreValidator(self.control, word))
        return super().get_token_validator(token_type)


# --------------------------------------------------------------------------- #
# Flask app
# --------------------------------------------------------------------------- #


def _apply_options(control, options):
    """Set initial behaviour attributes; reject typos, methods and read-only
    observations so a misspelt option fails loudly instead of being ignored."""
    for name, value in options.items():
        is_property = isinstance(getattr(type(control), name, None), property)
        if name.startswith("_") or is_property or not hasattr(control, name) or callable(getattr(control, name)):
            raise TypeError(f"unknown server option {name!r}")
        setattr(control, name, value)


def create_oauth2_server(**options) -> tuple[Flask, OAuth2ServerControl]:
    """Build the Flask app and its control. ``options`` set initial control
    attributes, e.g. ``create_oauth2_server(auto_approve=True, send_iss=True)``."""
    control = OAuth2ServerControl()
    _apply_options(control, options)

    app = Flask(__name__)

    def query_client(client_id):
        with control.lock:
            return control.clients.get(client_id)

    def save_token(token_data, req):
        grant_type = req.payload.grant_type
        tok = Token(
            access_token=token_data["access_token"],
            refresh_token=token_data.get("refresh_token"),
            client=req.client,
            user_id=req.user.get_user_id() if req.user else None,
            scope=token_data.get("scope", ""),
            grant_type=grant_type,
            expires_in=token_data.get("expires_in"),
            user_name=req.user.username if req.user else None,
        )
        with control.lock:
            control.tokens.append(tok)
            control._grant_counts[grant_type] += 1

    server = _Server(app, query_client=query_client, save_token=save_token)

    # Replace the config-driven generator so lifetime and refresh-token issuing
    # follow the control at request time instead of app.config at startup.
    bearer = BearerTokenGenerator(
        access_token_generator=lambda **kw: generate_token(42),
        refresh_token_generator=lambda **kw: generate_token(48),
        # Authlib omits expires_in when this is falsy (None or 0).
        expires_generator=lambda client, grant_type: control.access_token_lifetime,
    )

    def generate(grant_type, client, user=None, scope=None, expires_in=None, include_refresh_token=True):
        return bearer(
            grant_type,
            client,
            user,
            scope,
            expires_in,
            include_refresh_token and control.issue_refresh_tokens,
        )

    server.register_token_generator("default", generate)

    code_grant, refresh_grant, cc_grant, jwt_grant = _make_grants(control)
    server.register_grant(code_grant, [_PKCE(control)])
    server.register_grant(refresh_grant)
    server.register_grant(cc_grant)
    server.register_grant(jwt_grant)
    server.register_grant(_make_saml2_grant(control))
    server.register_client_auth_method("private_key_jwt", _make_private_key_jwt(control))
    server.register_client_auth_method("client_secret_query", _authenticate_client_secret_query)
    server.register_endpoint(_make_revocation_endpoint(control))
    issuer_ext = _Issuer(control)
    server.register_extension(issuer_ext)

    protector = _ConfigurableProtector(control)

    # ----- authorization endpoint ----------------------------------------- #

    def authorization_error(error: OAuth2Error):
        response = server.handle_error_response(None, error)
        # Authlib adds iss only in create_authorization_response; errors found
        # while validating the request redirect from here, and RFC 9207 wants
        # iss on error redirects too.
        if error.redirect_uri:
            issuer_ext.add_issuer_parameter(server, response)
        return response

    @app.route("/oauth/authorize", methods=["GET", "POST"])
    def authorize():
        """GET: the consent page (or, with ``auto_approve``, the approval); POST: the decision."""
        control.record_authorization_request()
        try:
            grant = server.get_consent_grant(end_user=TESTER)
        except OAuth2Error as error:
            return authorization_error(error)
        if request.method == "POST":
            approved = request.form.get("confirm") == "yes"
            # grant_user=None makes Authlib redirect with error=access_denied.
            return to_accept_url(server.create_authorization_response(grant=grant, grant_user=TESTER if approved else None))
        if control.auto_approve:
            return with_callback_extra(server.create_authorization_response(grant=grant, grant_user=TESTER))
        requested = grant.request.payload.scope or grant.request.scope or ""
        scope_items = "\n".join(f'<li class="scope">{escape(s)}</li>' for s in (scope_to_list(requested) or []))
        return consent_page(grant.client.get_client_id(), "these scopes:", f'<ul id="scopes">\n{scope_items}\n</ul>\n')

    def to_accept_url(response):
        location = response.headers.get("Location", "")
        for name, accept_url in control.redirect_names.items():
            if location.startswith(name + "?"):
                response.headers["Location"] = accept_url + location[len(name):]
        return response

    def with_callback_extra(response):
        location = to_accept_url(response).headers.get("Location", "")
        if control.callback_extra and "code=" in location:
            from urllib.parse import urlencode

            response.headers["Location"] += "&" + urlencode(control.callback_extra)
        return response

    # ----- token endpoint ------------------------------------------------- #

    def fault_response(fault: str):
        if fault == "500":
            return Response("Internal Server Error (injected)", status=500, content_type="text/plain")
        if fault == "html":
            # 200 + HTML is the nasty case: a proxy/login page that a client
            # must not mistake for a token response.
            return Response(
                "<!doctype html><html><body><h1>Service temporarily unavailable</h1></body></html>",
                status=200,
                content_type="text/html; charset=utf-8",
            )
        if fault == "garbage_json":
            return Response('{"access_token": "tr', status=200, content_type="application/json")
        if fault == "missing_access_token":
            return jsonify({"token_type": "Bearer", "expires_in": 3600})
        if fault == "huge":
            # Well-formed, so only a size cap (not a parse error) saves the client.
            body = json.dumps(
                {
                    "access_token": "huge-" + generate_token(8),
                    "token_type": "Bearer",
                    "padding": "A" * control.huge_bytes,
                }
            )
            return Response(body, status=200, content_type="application/json")
        if fault == "invalid_grant":
            return invalid_grant("Injected fault.")
        raise ValueError(f"unknown token fault {fault!r}")

    def invalid_grant(description):
        return Response(
            json.dumps({"error": "invalid_grant", "error_description": description}),
            status=400,
            content_type="application/json",
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    @app.post("/oauth/token")
    def issue_token():
        body = json_object_body(request) if control.token_request_format == "json" else None
        control._record_token_request(request, body)
        if control.token_request_format == "json" and body is None:
            return Response(json.dumps({"error": "invalid_request", "error_description": "The token endpoint takes a JSON object body."}),
                            status=400, content_type="application/json")
        # Sleep outside the lock: concurrent requests all wait, then are
        # processed one at a time, so two refreshes with the same token
        # deterministically yield one success and one invalid_grant.
        if control.token_delay_seconds:
            time.sleep(control.token_delay_seconds)
        fault = control._take_token_fault()
        if fault == "slow":
            time.sleep(control.slow_seconds)
        elif fault:
            return fault_response(fault)
        params = body if body is not None else request.form
        if control.refresh_fault_invalid_grant and params.get("grant_type") == "refresh_token":
            return invalid_grant("The refresh token is invalid (injected).")
        with control.lock:
            response = server.create_token_response(_JsonTokenRequest(request, body) if body is not None else None)
        if control.token_response_extra and response.status_code == 200:
            response.set_data(json.dumps({**json.loads(response.get_data()), **control.token_response_extra}))
        return response

    # ----- revocation ----------------------------------------------------- #

    @app.post("/oauth/revoke")
    def revoke_token():
        response = server.create_endpoint_response(RevocationEndpoint.ENDPOINT_NAME)
        with control.lock:
            control._revocation_requests.append(
                {
                    "form": request.form.to_dict(flat=True),
                    "headers": dict(request.headers),
                    "status": response.status_code,
                    "time": time.time(),
                }
            )
            if response.status_code == 200:
                control._revoked.append(request.form.get("token"))
        return response

    # ----- protected resources -------------------------------------------- #

    def me_payload(tok: Token, via: str):
        user = tok.get_user()
        return jsonify(
            {
                "user": user.username if user else None,
                "scope": tok.scope,
                "client_id": tok.client_id,
                "via": via,
            }
        )

    @app.route("/api/me", methods=["GET", "POST"])
    def api_me():
        auth = request.headers.get("Authorization", "")
        via = auth.split(None, 1)[0].lower() if auth.strip() else None
        try:
            tok = protector.acquire_token()
        except OAuth2Error as error:
            control._record_resource(request.path, via, False, error.error)
            protector.raise_error_response(error)
        control._record_resource(request.path, via, True)
        return me_payload(tok, via)

    @app.route("/api/me-param", methods=["GET", "POST"])
    def api_me_param():
        if "access_token" in request.args:
            token_string, via = request.args["access_token"], "query"
        elif "access_token" in request.form:
            token_string, via = request.form["access_token"], "form"
        else:
            control._record_resource(request.path, None, False, "invalid_request")
            return jsonify(
                {"error": "invalid_request", "error_description": "Missing 'access_token' parameter."}
            ), 401
        # Same validator as /api/me: store lookup + is_expired() / is_revoked().
        validator = _TokenStoreValidator(control)
        tok = validator.authenticate_token(token_string)
        try:
            validator.validate_token(tok, None, None)
        except OAuth2Error as error:
            control._record_resource(request.path, via, False, error.error)
            protector.raise_error_response(error)
        control._record_resource(request.path, via, True)
        return me_payload(tok, via)

    @app.get("/_stats")
    def stats():
        return jsonify(control.stats())

    app.extensions["oauth2_test_control"] = control
    return app, control
