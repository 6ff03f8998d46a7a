"""Serve WSGI apps (httpbin, the small upstream, the OAuth servers) on loopback for tests.

One runner for every test server: waitress, a production WSGI server with HTTP/1.1
keep-alive, on an OS-assigned port (port 0) so parallel test runs never collide, in a
daemon thread so a forgotten ``stop()`` cannot hang interpreter exit.
"""

from __future__ import annotations

import contextlib
import threading

from waitress.server import create_server

# Enough worker threads for the race tests (20 concurrent invokes) and for an OAuth server
# that holds a slow token request open while the product makes another.
THREADS = 32


class RunningServer:
    """Handle on a WSGI app being served in a background thread."""

    def __init__(self, app, host: str = "127.0.0.1", threads: int = THREADS):
        # A short loop timeout lets stop() end the serving loop at once instead of after 1 s.
        self._server = create_server(app, host=host, port=0, threads=threads, channel_timeout=30, asyncore_loop_timeout=0.05)
        self.host = host
        self.port = self._server.effective_port
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, name=f"wsgi-{host}:{self.port}", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            self._server.run()
        except OSError:
            # A worker thread may still write to a channel stop() has just closed: the
            # loop's select then sees a closed descriptor. Only then is it expected.
            if not self._stopping:
                raise

    @property
    def url(self) -> str:
        """Base URL without trailing slash, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{self.host}:{self.port}"

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting requests and wait for the serving thread (idempotent).

        waitress's loop runs while its socket map holds anything, and its task trigger
        stays there after ``close()``; so the loop thread itself closes every channel (a
        thunk through the trigger: closing them from here would pull sockets from under
        its ``select``), and the loop ends.
        """
        self._stopping = True
        if self._thread.is_alive():
            channels = self._server._map  # noqa: SLF001 - waitress keeps no public handle

            def close_all():
                for channel in list(channels.values()):
                    channel.close()

            try:
                self._server.trigger.pull_trigger(close_all)
            except OSError:  # the trigger is closed already: the loop is ending on its own
                pass
            self._thread.join(timeout)
        self._server.task_dispatcher.shutdown(timeout=timeout)

    def __enter__(self) -> "RunningServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_wsgi(app, host: str = "127.0.0.1") -> RunningServer:
    """Serve ``app`` on ``host`` at a free port; returns once the socket is listening."""
    return RunningServer(app, host)


@contextlib.contextmanager
def serving(app, control):
    """Serve a test server's app (as its ``create_*_server`` returns it, with its control)
    on loopback; yield the control with ``.url`` and ``.server``, and stop at the end."""
    with start_wsgi(app) as server:
        control.url, control.server = server.url, server
        yield control


def start_httpbin(host: str = "127.0.0.1") -> RunningServer:
    """Serve the PyPI ``httpbin`` app (echo endpoints for generic HTTP tests)."""
    # Imported lazily: httpbin logs a warning at import time (no flasgger), and
    # tests that only need the OAuth servers should not pay for it.
    from httpbin import app

    return start_wsgi(app, host)
