"""scripts/serve as a newcomer runs it: the address it binds to is the address in snippets
and redirect URIs, and TERM stops web, worker and scheduler within 10 s, losing no task.

The worker is stopped cold (see scripts/serve): a task that is running then, here a
webhook to a server that never answers, is cancelled and goes back to the queue instead
of holding the stop for as long as it runs.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

# scripts/serve runs on the embedded defaults (DATABASE_URL is dropped below): the same run in
# either pass of scripts/test, so the PostgreSQL pass leaves it out.
pytestmark = [pytest.mark.integration, pytest.mark.embedded]

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def silent_server():
    """A TCP server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/hook"
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    server.close()


def wait_for(predicate, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen in {timeout}s:\n{log.read_text()[-4000:]}")


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_serve_uses_its_bind_address_and_stops_within_ten_seconds_losing_nothing(tmp_path, silent_server):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "CONNECTIONS_", "DJANGO_"))}
    env.update(CONNECTIONS_VAR_DIR=str(tmp_path / "var"), BIND=f"127.0.0.1:{port}", CONNECTIONS_ALLOW_PRIVATE_NETWORKS="1")
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        serve = subprocess.Popen([str(ROOT / "scripts/serve")], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: "worker@" in log.read_text() and " ready." in log.read_text(), 90, "the worker start", log)
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: requests.get(f"{base}/login/", timeout=5).status_code == 200, 60, "the web start", log)

        # Point 1: with no CONNECTIONS_BASE_URL, pages say the address the server binds to.
        password = re.search(r"password:\s+(\S+)", log.read_text()).group(1)
        browser = requests.Session()
        browser.get(f"{base}/login/", timeout=10)
        signed_in = browser.post(f"{base}/login/", data={
            "username": "admin", "password": password, "csrfmiddlewaretoken": browser.cookies["csrftoken"],
        }, headers={"Referer": f"{base}/login/"}, timeout=10)
        assert signed_in.url == f"{base}/"
        custom = browser.get(f"{base}/connections/new/?tab=custom", timeout=10).text
        assert f"{base}/oauth/callback" in custom and ":8000" not in custom
        assert "CONNECTIONS_BASE_URL</code> is" not in custom  # served where it says: no warning

        # A task that is running when the stop comes: a webhook to a server that never answers.
        shell = (
            "from connections_app import tasks\n"
            "from connections_app.models import Event, Organisation\n"
            f"org = Organisation.objects.update_or_create(slug='default', defaults={{'webhook_url': '{silent_server}'}})[0]\n"
            "event = Event.objects.create(organisation=org, actor='test', action='test.stop', target='t', data={})\n"
            "tasks.deliver_webhook.delay(event.pk)\n"
        )
        subprocess.run([str(ROOT / ".venv/bin/python"), "manage.py", "shell", "-c", shell], cwd=ROOT, check=True,
                       env={**env, "DJANGO_SETTINGS_MODULE": "settings.dev"}, capture_output=True, timeout=60)
        wait_for(lambda: "deliver_webhook" in log.read_text() and "received" in log.read_text(), 30, "the task start", log)
        time.sleep(1)

        started = time.monotonic()
        os.kill(serve.pid, signal.SIGTERM)
        wait_for(lambda: serve.poll() is not None, 15, "the stop", log)
        took = time.monotonic() - started
        assert took < 10, f"stopping took {took:.1f}s:\n{log.read_text()[-3000:]}"
        assert not group_alive(serve.pid)  # web, worker (and its pool) and scheduler are all gone

        # Nothing lost: the cancelled webhook is back in the queue for the next start.
        queued = [p.read_text(errors="replace") for p in (tmp_path / "var/broker/queue").iterdir()]
        assert any("deliver_webhook" in text for text in queued), queued
    finally:
        if group_alive(serve.pid):
            os.killpg(serve.pid, signal.SIGKILL)
        serve.wait(10)
