"""What the OAuth 1.0a and OAuth 2.0 test servers share: the one user who consents, the
consent page, and the control's lock-guarded request logs that tests read as snapshots."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass

from flask import Response, request
from markupsafe import escape


@dataclass(frozen=True)
class User:
    id: int
    username: str

    def get_user_id(self):
        return self.id


# No login on these servers: every consent is given by this one user.
TESTER = User(id=1, username="tester")

_CONSENT_PAGE = """<!doctype html>
<html>
<head><meta charset="utf-8"><title>Authorize {client_id}</title></head>
<body>
<h1>Authorize <span id="client-id">{client_id}</span></h1>
<p>Signed in as <strong id="username">{username}</strong>.
The application is requesting {asks}</p>
{details}<form id="consent" method="post" action="{action}">
<button name="confirm" value="yes">Approve</button>
<button name="confirm" value="no">Deny</button>
</form>
</body>
</html>
"""


def consent_page(client_id: str, asks: str, details_html: str = "") -> Response:
    """The consent page for the current request. Its form posts back to the same URL, so
    the original query (client_id, state, code_challenge, ...) is validated again on decision."""
    html = _CONSENT_PAGE.format(
        client_id=escape(client_id), username=escape(TESTER.username), asks=escape(asks),
        details=details_html, action=escape(request.full_path),
    )
    return Response(html, content_type="text/html; charset=utf-8")


def snapshot(attribute: str, doc: str) -> property:
    """A read-only view of a control's log ``attribute``: a copy taken under its lock, so
    reading never races with the serving threads."""

    def read(control):
        with control.lock:
            value = getattr(control, attribute)
            return type(value)(value)

    return property(read, doc=doc)


class ServerControl:
    """Configure and observe one test server: behaviour attributes are read on every
    request, so tests may flip them at any time; observations are snapshots."""

    # The logs ``reset_counts`` clears (storage and settings are kept).
    LOGS: tuple[str, ...] = ("_grant_counts", "_token_requests", "_authorization_requests", "_resource_requests")

    def __init__(self):
        # RLock: storage helpers are called both directly and from inside an endpoint that
        # holds the lock for a whole grant.
        self.lock = threading.RLock()
        self.clients: dict = {}
        self.auto_approve = False
        self._grant_counts: Counter = Counter()
        self._token_requests: list[dict] = []
        self._authorization_requests: list[dict] = []
        self._resource_requests: list[dict] = []

    grant_counts = snapshot("_grant_counts", "Successful grants, by grant (missing keys read as 0).")
    authorization_requests = snapshot("_authorization_requests", "One dict per authorize hit: ``method``, ``args`` (query dict).")

    def reset_counts(self) -> None:
        """Clear every counter and request log."""
        with self.lock:
            for name in self.LOGS:
                getattr(self, name).clear()

    def stats(self) -> dict:
        with self.lock:
            return {
                "grant_counts": dict(self._grant_counts),
                "token_requests": len(self._token_requests),
                "authorization_requests": len(self._authorization_requests),
                "resource_requests": len(self._resource_requests),
            }

    def record_authorization_request(self) -> None:
        with self.lock:
            self._authorization_requests.append({"method": request.method, "args": request.args.to_dict(flat=True), "time": time.time()})
