"""The Celery app. Its configuration, the beat schedule included, is read from the Django
settings (``CELERY_*`` names in settings/base.py) when the app is first used."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.dev")

app = Celery("connections")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["connections_app"])

# Serves worker metrics when CONNECTIONS_WORKER_METRICS_PORT is set (signal handlers only).
from connections_app.observability import worker as _worker_metrics  # noqa: E402,F401
