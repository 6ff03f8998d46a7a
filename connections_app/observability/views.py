"""Operational endpoints: ``/healthz`` (liveness), ``/readyz`` (readiness), ``/metrics``.

They answer JSON (metrics: Prometheus text), need no session or API token, and never say
more than "ok" or a failure class. ``/metrics`` asks for ``Authorization: Bearer
<CONNECTIONS_METRICS_TOKEN>`` when that setting is set; it should not be public either way.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import health, metrics as metrics_module


@never_cache
@require_GET
def healthz(request):
    """The process is up and answering; touches no database (a restart cannot fix one)."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request):
    checks = health.run()
    ready = all(not value.startswith("failed") for value in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)


@never_cache
@require_GET
def metrics(request):
    token = settings.CONNECTIONS_METRICS_TOKEN
    if not token and settings.CONNECTIONS_METRICS_REQUIRE_TOKEN:
        # Production never serves metrics to anyone who asks (settings/prod.py).
        return JsonResponse({"error": {"code": "not_found", "message": "Metrics are off: set CONNECTIONS_METRICS_TOKEN."}}, status=404)
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            response = JsonResponse(
                {"error": {"code": "not_authenticated", "message": "Send Authorization: Bearer <metrics token>."}}, status=401
            )
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    body = metrics_module.render(settings.PROMETHEUS_MULTIPROC_DIR)
    return HttpResponse(body, content_type=metrics_module.CONTENT_TYPE)
