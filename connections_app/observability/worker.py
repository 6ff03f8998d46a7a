"""Metrics from Celery workers, where most token refreshes happen.

When ``CONNECTIONS_WORKER_METRICS_PORT`` is set, the worker's main process serves
Prometheus text on that port (``/metrics``, any path). With ``PROMETHEUS_MULTIPROC_DIR``
set, the pool processes write their counters there and the main process reads them all;
without it only the main process's own numbers (``--pool threads`` or ``solo``) are seen.
Connected from ``settings/celery.py``; prometheus_client is imported only when serving, so
importing this module never fixes its mode before the environment is read.
"""

from __future__ import annotations

import logging

from celery.signals import worker_init, worker_ready

logger = logging.getLogger(__name__)


@worker_init.connect
def clear_stale_values(**_kwargs) -> None:
    from django.conf import settings

    if settings.CONNECTIONS_WORKER_METRICS_PORT:
        from . import metrics

        metrics.clear_multiproc_dir(settings.PROMETHEUS_MULTIPROC_DIR)


@worker_ready.connect
def serve_metrics(**_kwargs) -> None:
    from django.conf import settings

    port = settings.CONNECTIONS_WORKER_METRICS_PORT
    if not port:
        return
    from prometheus_client import start_http_server

    from . import metrics

    start_http_server(port, addr=settings.CONNECTIONS_WORKER_METRICS_ADDR, registry=metrics.process_registry(settings.PROMETHEUS_MULTIPROC_DIR))
    logger.info("worker metrics on port %s", port)
