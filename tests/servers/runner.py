"""Serve WSGI apps (the fake authorization servers, httpbin) on loopback for tests.

Each server gets an OS-assigned port (port 0) so parallel test runs never collide,
and runs in a daemon thread so a forgotten ``stop()`` cannot hang interpreter exit.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from werkzeug.serving import BaseWSGIServer, make_server


@dataclass
class RunningServer:
    """Handle on a WSGI app being served in a background thread."""

    host: str
    port: int
    _server: BaseWSGIServer = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    @property
    def url(self) -> str:
        """Base URL without trailing slash, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{self.host}:{self.port}"

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting requests and wait for the serving thread to finish.

        Idempotent, so fixtures can call it in teardown unconditionally.
        """
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout)
        self._server.server_close()

    # Allow ``with start_wsgi(app) as srv:`` in ad-hoc tests.
    def __enter__(self) -> "RunningServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_wsgi(app, host: str = "127.0.0.1") -> RunningServer:
    """Serve ``app`` on ``host`` at a free port; returns once the socket is listening.

    ``threaded=True`` matters: the product under test may hold one connection open
    (e.g. a slow token request) while making another, and race tests send
    concurrent requests on purpose.
    """
    server = make_server(host, 0, app, threaded=True)
    # make_server has already bound and listened, so the port is real and
    # connections made before serve_forever() starts simply queue in the backlog.
    port = server.socket.getsockname()[1]
    thread = threading.Thread(
        # A short poll interval makes stop() return in ~50 ms instead of the
        # default 0.5 s, which adds up over a suite with a server per test.
        target=lambda: server.serve_forever(poll_interval=0.05),
        name=f"wsgi-{host}:{port}",
        daemon=True,
    )
    thread.start()
    return RunningServer(host=host, port=port, _server=server, _thread=thread)


def start_httpbin(host: str = "127.0.0.1") -> RunningServer:
    """Serve the PyPI ``httpbin`` app (echo endpoints for generic HTTP tests)."""
    # Imported lazily: httpbin logs a warning at import time (no flasgger), and
    # tests that only need the OAuth servers should not pay for it.
    from httpbin import app

    return start_wsgi(app, host)
