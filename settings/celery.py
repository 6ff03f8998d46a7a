"""The Celery app. Its configuration, the beat schedule included, is read from the Django
settings (``CELERY_*`` names in settings/base.py) when the app is first used."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.dev")

app = Celery("connections")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["connections_app"])
