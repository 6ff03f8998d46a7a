"""OAuth 1.0a: the service's ``oauth1`` block, its consent (request token, authorize URL,
access token, by Authlib's ``OAuth1Session`` over the guarded transport), and request signing
(RFC 5849) by Authlib's ``OAuth1Auth``, with the signature in the Authorization header, the
query string or the form body per ``param_type``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Annotated, Literal

from authlib.common.encoding import to_bytes, to_unicode
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth1Auth, OAuth1Session
from authlib.oauth1 import SIGNATURE_TYPE_BODY, SIGNATURE_TYPE_HEADER, SIGNATURE_TYPE_QUERY, ClientAuth
from authlib.oauth1.rfc5849.signature import generate_signature_base_string
from authlib.oauth1.rfc5849.util import escape

from services_catalog.fields import SECRET_FIELD, ClientId, ClientSecret, Shape, StringMap, Url

from ..errors import ConnectionsError
from .base import CONSENT, AuthType, encodings_of
from .token_calls import ConsentFailed, ConsentStart, Grant, GuardedSessionMixin

SIGNATURE_TYPES = {"header": SIGNATURE_TYPE_HEADER, "query": SIGNATURE_TYPE_QUERY, "form": SIGNATURE_TYPE_BODY}


def sign_hmac_sha256(client, request) -> str:
    """HMAC-SHA256 over the RFC 5849 base string (Authlib ships HMAC-SHA1 and PLAINTEXT only).

    Same construction as RFC 5849 section 3.4.2 with SHA-256, as used by providers that
    offer it (e.g. Xero's and Twitter's OAuth 1.0a variants).
    """
    base_string = generate_signature_base_string(request)
    key = "&".join(escape(s or "") for s in (client.client_secret, client.token_secret))
    digest = hmac.new(to_bytes(key), to_bytes(base_string), hashlib.sha256).digest()
    return to_unicode(base64.b64encode(digest))


ClientAuth.register_signature_method("HMAC-SHA256", sign_hmac_sha256)


class OAuth1Config(Shape):
    request_token_url: Url
    authorize_url: Url
    access_token_url: Url
    signature_method: Literal["HMAC-SHA1", "HMAC-SHA256", "PLAINTEXT"] = "HMAC-SHA1"
    authorize_params: StringMap = {}
    consumer_key: ClientId | None = None
    consumer_secret: Annotated[ClientSecret | None, SECRET_FIELD] = None


class OAuth1TokenSession(GuardedSessionMixin, OAuth1Session):
    pass


class OAuth1(AuthType):
    name = "oauth1"
    label = "OAuth 1"
    section, section_model = "oauth1", OAuth1Config
    client_fields = ("consumer_key", "consumer_secret")
    callback_path = "/oauth1/callback"
    state_param = "oauth_token"  # the request token comes back and finds the state

    @property
    def connects_by(self) -> str:
        return CONSENT

    # -- consent: request token, authorize URL, access token -------------------------------
    def start_consent(self, *, scopes: list[str], state: str, redirect_uri: str) -> ConsentStart:
        config = self.service.oauth1
        session = self._session(redirect_uri=redirect_uri)
        token = _call(session.fetch_request_token, config.request_token_url)
        request_token, request_secret = token.get("oauth_token"), token.get("oauth_token_secret")
        if not request_token or not request_secret:
            raise ConnectionsError("the provider's request-token answer is incomplete")
        url = session.create_authorization_url(config.authorize_url, request_token=request_token, **dict(config.authorize_params))
        return ConsentStart(url=url, secrets={"request_token": request_token, "request_token_secret": request_secret},
                            state_key=request_token)

    def finish_consent(self, *, params: dict, secrets: dict, redirect_uri: str, config: dict) -> Grant:
        if params.get("denied") or not params.get("oauth_verifier"):
            raise ConsentFailed("Consent was not given", "Consent was not given at the provider.")
        session = self._session(
            token=secrets.get("request_token"), token_secret=secrets.get("request_token_secret"), verifier=params["oauth_verifier"],
        )
        try:
            token = _call(session.fetch_access_token, self.service.oauth1.access_token_url)
        except ConnectionsError as exc:
            raise ConsentFailed("Token exchange failed", f"The access-token request failed: {exc.message}") from None
        if not token.get("oauth_token") or not token.get("oauth_token_secret"):
            raise ConsentFailed("Token exchange failed", "The provider's access-token answer is incomplete.")
        return Grant(credentials={"oauth_token": token["oauth_token"], "oauth_token_secret": token["oauth_token_secret"]},
                     renewable=False)

    def _session(self, **kwargs) -> OAuth1TokenSession:
        config = self.service.oauth1
        return OAuth1TokenSession(config.consumer_key, config.consumer_secret, signature_method=config.signature_method, **kwargs)

    # -- use ------------------------------------------------------------------------------
    @property
    def client_per_call(self) -> bool:
        return True  # every request is signed with the consumer secret

    def build_auth(self, credentials: dict) -> OAuth1Auth:
        config = self.service.oauth1
        return OAuth1Auth(
            client_id=config.consumer_key,
            client_secret=config.consumer_secret,
            token=credentials["oauth_token"],
            token_secret=credentials["oauth_token_secret"],
            signature_method=config.signature_method,
            signature_type=SIGNATURE_TYPES[self.service.param_type],
        )

    def injected_names(self) -> set[str]:
        if self.service.param_type == "header":
            return {"authorization"}
        return {"oauth_consumer_key", "oauth_token", "oauth_signature", "oauth_signature_method",
                "oauth_timestamp", "oauth_nonce", "oauth_version"}

    def secret_values(self, credentials: dict) -> list[str]:
        return encodings_of([credentials.get("oauth_token_secret", ""), self.service.oauth1.consumer_secret or ""])

    def has_usable_credentials(self, credentials: dict) -> bool:
        return bool(credentials.get("oauth_token")) and bool(credentials.get("oauth_token_secret"))


def _call(fn, url: str, **kwargs) -> dict:
    """One OAuth 1.0a token step; every failure a ConnectionsError with a message to show."""
    try:
        return dict(fn(url, **kwargs))
    except OAuthError as exc:
        raise ConnectionsError(f"the provider refused the request ({(exc.error or 'error')[:60]})") from None
    except ConnectionsError as exc:
        raise ConnectionsError(exc.message.rstrip(".").lower()) from None
    except (ValueError, KeyError, TypeError):
        raise ConnectionsError("the provider's answer could not be read") from None
