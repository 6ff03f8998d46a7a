"""Gunicorn in production: ``gunicorn -c settings/gunicorn.conf.py settings.wsgi``.

Threads rather than processes carry concurrency: invoke mostly waits on the upstream. Each
worker loads the application itself (``preload_app = False``), so no database connection,
socket or lock is shared across a fork. Before any worker starts, the master runs Django's
system checks: a missing or wrong ``CONNECTIONS_ENCRYPTION_KEYS`` (or a broken catalog
file) stops the server with the check's message instead of answering 503s.

Logs go to stdout as JSON lines (access log included, without query strings, which can
carry OAuth codes). See docs/DEPLOY.md for the variables read here.
"""

import io
import os
import pathlib
import shutil
import sys
import tempfile

# Every worker writes its metrics to files here, so that a scrape answered by any worker
# sees all of them. It must be in the environment before prometheus_client is first
# imported (in the checks below, and in the workers): hence at the very top. Values left
# by a previous run are removed: counters would otherwise carry on from them.
_OWN_METRICS_DIR = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _OWN_METRICS_DIR:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="connections-metrics-")
METRICS_DIR = pathlib.Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
METRICS_DIR.mkdir(parents=True, exist_ok=True)
for stale in METRICS_DIR.glob("*.db"):
    stale.unlink(missing_ok=True)

from settings import env  # noqa: E402  (after the variable above)

bind = [env.get("GUNICORN_BIND") or f"0.0.0.0:{env.get_int('PORT', 8000)}"]
workers = env.get_int("GUNICORN_WORKERS", 2 * (os.cpu_count() or 1))
threads = env.get_int("GUNICORN_THREADS", 4)
worker_class = "gthread"
preload_app = False
# gthread workers keep their heartbeat while a thread waits on a slow upstream, so this
# only catches a stuck worker; invoke has its own deadline (CONNECTIONS_INVOKE_MAX_TIMEOUT).
timeout = env.get_int("GUNICORN_TIMEOUT", 60)
graceful_timeout = env.get_int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = env.get_int("GUNICORN_KEEPALIVE", 5)
# Off by default: every restarted worker leaves its metric files behind until the master
# restarts, and each scrape reads them all. Set it (e.g. 10000) to bound a slow leak.
max_requests = env.get_int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = max_requests // 10
forwarded_allow_ips = env.get("FORWARDED_ALLOW_IPS") or "127.0.0.1"
# No runtime control socket: one fixed path per user would clash between two servers on
# one host, and containers are managed by restarting them.
control_socket_disable = True

accesslog = "-"
errorlog = "-"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "connections_app.observability.logging.JsonFormatter"}},
    "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}},
    "loggers": {
        "gunicorn.error": {"handlers": ["stdout"], "level": env.get("LOG_LEVEL") or "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
    },
    "root": {"handlers": ["stdout"], "level": env.get("LOG_LEVEL") or "INFO"},
}


def on_starting(server):
    """Run the system checks once, in the master, before any worker starts."""
    import django
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError
    from django.db import connections

    output = io.StringIO()
    try:
        django.setup()
        call_command("check", stdout=output)
        server.log.info("Start-up checks: %s", output.getvalue().strip())
    except (SystemCheckError, ImproperlyConfigured) as exc:
        server.log.error("Start-up checks failed; not starting:\n%s", exc)
        sys.exit(1)
    finally:
        connections.close_all()  # workers open their own connections after the fork


def worker_exit(server, worker):
    """Write the invocation logs this worker still holds (invocation_logs.py)."""
    logs = sys.modules.get("connections_app.invocation_logs")  # not loaded: nothing pending
    written = logs.writer.flush() if logs else 0
    if written:
        server.log.info("Wrote %d pending invocation log row(s) before exiting", written)


def child_exit(server, worker):
    """Drop the files of a worker's live gauges (counters stay: they are totals)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics folder made above (one given in the environment stays)."""
    if _OWN_METRICS_DIR:
        shutil.rmtree(METRICS_DIR, ignore_errors=True)
