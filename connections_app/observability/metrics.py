"""Prometheus metrics: what invoke and token refresh do, and connections by status.

Counters and the histogram live in this process (or, when ``PROMETHEUS_MULTIPROC_DIR`` is
set, in files shared by all gunicorn workers or Celery pool processes, so one scrape sees
every process). The connections gauge is not kept in memory: it is one ``GROUP BY`` query
made at scrape time, so it is right whichever process answers.

Labels are bounded sets (a status class, an error code, an outcome): never a link name,
an organisation, a URL or anything a caller chooses.
"""

from __future__ import annotations

import logging
import pathlib
import time

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from settings import env

logger = logging.getLogger(__name__)

# In multiprocess mode prometheus_client writes a file per metric as soon as one is made
# (just below): the folder has to exist by then, whichever process imports us first.
_MULTIPROC_DIR = env.get("PROMETHEUS_MULTIPROC_DIR")
if _MULTIPROC_DIR:
    pathlib.Path(_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)

INVOKES = Counter(
    "connections_invokes", "Invoke requests sent upstream, by upstream status class (2xx...) or error code.", ["status"]
)
INVOKE_SECONDS = Histogram(
    "connections_invoke_seconds", "Time to send an invoke request upstream and read its answer (retries included).",
    # Up to the largest invoke timeout (120 s): slow upstreams are the interesting tail.
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
INVOCATION_LOGS_DROPPED = Counter(
    "connections_invocation_logs_dropped", "Invocation log rows dropped because the database was unavailable too long."
)
REFRESHES = Counter("connections_refreshes", "OAuth 2.0 token refreshes, by outcome.", ["outcome"])
REFRESH_OUTCOMES = ("refreshed", "transient_failure", "needs_reauth", "lease_lost", "client_refused")
CONTENT_TYPE = CONTENT_TYPE_LATEST


def observe_invoke(send, *args, **kwargs):
    """Call ``send(*args, **kwargs)``; count its outcome and time it; return its result."""
    started = time.perf_counter()
    try:
        response = send(*args, **kwargs)
    except Exception as exc:
        _invoke_done(getattr(exc, "code", None) or "error", started)
        raise
    _invoke_done(f"{response.status_code // 100}xx", started)
    return response


def _invoke_done(status: str, started: float) -> None:
    INVOKE_SECONDS.observe(time.perf_counter() - started)
    INVOKES.labels(status=status).inc()


def count_refresh(outcome: str) -> None:
    if outcome not in REFRESH_OUTCOMES:
        raise ValueError(f"unknown refresh outcome {outcome!r}")
    REFRESHES.labels(outcome=outcome).inc()


class ConnectionsByStatus:
    """``connections_connections{status}``, counted by the database when scraped."""

    def collect(self):
        from django.db import DatabaseError
        from django.db.models import Count

        from ..models import Connection, ConnectionStatus

        try:
            counts = dict(Connection.objects.order_by().values_list("status").annotate(n=Count("pk")))
        except DatabaseError as exc:  # the process metrics are still worth a scrape
            logger.warning("connections gauge skipped: database unavailable (%s)", type(exc).__name__)
            return
        family = GaugeMetricFamily("connections_connections", "Connections by status, all organisations.", labels=["status"])
        for status in ConnectionStatus.values:
            family.add_metric([status], counts.get(status, 0))
        yield family


_database_registry = CollectorRegistry(auto_describe=False)
_database_registry.register(ConnectionsByStatus())


def process_registry(multiproc_dir: str | None):
    """The registry to scrape: every process's files in multiprocess mode, else this one's."""
    if not multiproc_dir:
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=multiproc_dir)
    return registry


def render(multiproc_dir: str | None, *, with_database: bool = True) -> bytes:
    """The exposition text for a scrape."""
    text = generate_latest(process_registry(multiproc_dir))
    if with_database:
        text += generate_latest(_database_registry)
    return text


def clear_multiproc_dir(multiproc_dir: str | None) -> None:
    """Delete the value files of a previous run (counters would otherwise carry on from it)."""
    import pathlib

    if multiproc_dir:
        path = pathlib.Path(multiproc_dir)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)
