"""Calls to a provider's token endpoints (OAuth 1.0a and 2.0), and what they give back.

Authlib's sessions speak the protocols; here they run over the same guarded transport as
invoke, each call under one overall deadline with a size cap on the answer. The OAuth homes
return a ``Grant`` (what to store) or raise ``RefreshFailed`` / ``ConsentFailed``; storing,
the lease and status changes are ``tokens``'s and ``oauth_flow``'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import requests
from django.conf import settings

from .. import http
from ..errors import ConnectionsError, UpstreamError, UpstreamTimeout

TOKEN_MAX_BYTES = 256 * 1024


class RefreshFailed(ConnectionsError):
    """A token request failed; ``terminal`` says whether retrying can help; ``client_refused``
    that the service's OAuth client (not the connection) was refused."""

    code, status = "upstream_error", 502

    def __init__(self, message: str, *, terminal: bool, client_refused: bool = False):
        super().__init__(message)
        self.terminal = terminal
        self.client_refused = client_refused


class ConsentFailed(Exception):
    """The provider's answer to consent is refused: ``title`` and ``message`` are shown to the
    person, ``recorded`` is kept as the connection's error (both safe to show)."""

    def __init__(self, title: str, message: str, *, recorded: str | None = None):
        super().__init__(message)
        self.title = title
        self.message = message
        self.recorded = recorded or message


@dataclass(frozen=True)
class ConsentStart:
    url: str  # where the browser goes
    secrets: dict  # kept encrypted with the state until the callback (PKCE verifier, request token)
    state_key: str  # what the callback brings back to find the state (state, or the request token)


@dataclass(frozen=True)
class Grant:
    """What a provider granted, in the form a connection stores it."""

    credentials: dict
    expires_in: int | None = None
    #: Values kept from the answer for the connection's config (instance_url, realmId).
    kept: dict = field(default_factory=dict)
    #: An OAuth 2.0 token, stamped ``last_refreshed_at``; OAuth 1.0a tokens are never renewed.
    renewable: bool = True


def token_timeout() -> float:
    """The overall deadline of one token-endpoint call (CONNECTIONS_TOKEN_TIMEOUT_SECONDS)."""
    return float(settings.CONNECTIONS_TOKEN_TIMEOUT_SECONDS)


class GuardedSessionMixin:
    """Authlib sessions over the guarded adapter, with a deadline and a size cap."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.trust_env = False
        adapter = http.shared_adapter()
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def close(self):
        pass  # the adapter's pools are shared by every session of this process

    def request(self, method, url, *args, **kwargs):
        """One token-endpoint call (exchange, refresh, client credentials, revocation, OAuth 1
        token steps) under one overall deadline of its own: connect, headers and body."""
        http.check_url(url, [http.origin_entry(url)])  # scheme and private-address rules
        seconds = token_timeout()
        with http.deadline(seconds) as watchdog:
            deadline = watchdog.deadline
            kwargs.update(timeout=(min(10, seconds), seconds), stream=True, allow_redirects=False)
            try:
                response = super().request(method, url, *args, **kwargs)
                try:
                    response._content = http.read_capped(response, TOKEN_MAX_BYTES, deadline)
                finally:
                    response.close()
                if watchdog.fired:  # cut mid-answer: what was read is not the answer
                    raise UpstreamTimeout()
            except http.BlockedAddress:
                raise UpstreamError("The token endpoint is on a private address.") from None
            except (requests.exceptions.Timeout, UpstreamTimeout):
                raise UpstreamTimeout("The token endpoint did not answer in time.") from None
            except (requests.exceptions.RequestException, UpstreamError) as exc:
                if watchdog.fired:
                    raise UpstreamTimeout("The token endpoint did not answer in time.") from None
                if isinstance(exc, UpstreamError):
                    raise
                raise UpstreamError("The token endpoint could not be reached.") from None
        return response
