"""Production: everything from the environment; missing secrets stop start-up."""

from .base import *  # noqa: F401,F403
from .base import LOGGING, env

SECRET_KEY = env.get_mandatory("DJANGO_SECRET_KEY")
CONNECTIONS_ENCRYPTION_KEYS = env.get_list("CONNECTIONS_ENCRYPTION_KEYS") or [env.get_mandatory("CONNECTIONS_ENCRYPTION_KEYS")]
ALLOWED_HOSTS = env.get_list("DJANGO_ALLOWED_HOSTS") or [env.get_mandatory("DJANGO_ALLOWED_HOSTS")]
CSRF_TRUSTED_ORIGINS = env.get_list("DJANGO_CSRF_TRUSTED_ORIGINS")
DEBUG = False
# /metrics answers only a scrape that sends CONNECTIONS_METRICS_TOKEN; unset, it is off.
CONNECTIONS_METRICS_REQUIRE_TOKEN = True
WHITENOISE_USE_FINDERS = False

SECURE_SSL_REDIRECT = env.get_bool("DJANGO_SECURE_SSL_REDIRECT", True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.get_int("DJANGO_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# One JSON object per log line, with the request id; Celery keeps this configuration
# instead of installing its own plain handler.
LOGGING = {**LOGGING, "handlers": {"console": {**LOGGING["handlers"]["console"], "formatter": env.get("LOG_FORMAT") or "json"}}}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
