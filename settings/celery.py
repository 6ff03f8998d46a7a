"""The Celery app and its beat schedule."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.dev")

app = Celery("connections")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["connections_app"])

app.conf.beat_schedule = {
    "refresh-due-tokens": {"task": "connections_app.tasks.refresh_due", "schedule": 60.0},
    "prune-invocation-logs": {"task": "connections_app.tasks.prune_invocation_logs", "schedule": crontab(minute=17)},
}
