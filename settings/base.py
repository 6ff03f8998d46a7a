"""Settings shared by every environment. Values that vary come from settings.env."""

from __future__ import annotations

import dj_database_url

from . import env

BASE_DIR = env.BASE_DIR
VAR_DIR = env.VAR_DIR

SECRET_KEY = env.get("DJANGO_SECRET_KEY") or env.var_secret("django_secret_key", env.new_django_secret)
DEBUG = False
ALLOWED_HOSTS = env.get_list("DJANGO_ALLOWED_HOSTS") or ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "services_catalog",
    "connections_app",
]

MIDDLEWARE = [
    "connections_app.observability.middleware.RequestIdMiddleware",
    "connections_app.observability.middleware.OpsEndpointsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "settings.urls"
WSGI_APPLICATION = "settings.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "connections_app.web.context.organisation",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'connections.sqlite3'}",
        conn_max_age=env.get_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.get_bool("DATABASE_PREPARED_STATEMENTS", True):
    # Parameters bound by the server, and a statement run five times on a connection is
    # prepared: PostgreSQL then skips parsing and planning it (half the round trip of
    # invoke's lookups here). Turn off behind a pooler in transaction mode older than
    # PgBouncer 1.21, which cannot follow prepared statements.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"server_side_binding": True, "prepare_threshold": 5})
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and scheduler share the file: take the write lock when a transaction
    # starts (no lock-upgrade deadlocks) and wait for it rather than fail at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 30})
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "connection-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
WHITENOISE_USE_FINDERS = True  # serve straight from static/ too; prod serves collected files

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True

# --- Connections --------------------------------------------------------------------
CONNECTIONS_BASE_URL = (env.get("CONNECTIONS_BASE_URL") or "http://127.0.0.1:8000").rstrip("/")
CONNECTIONS_ENCRYPTION_KEYS = env.get_list("CONNECTIONS_ENCRYPTION_KEYS") or [
    env.var_secret("encryption_key", env.new_fernet_key)
]
CONNECTIONS_ALLOW_PRIVATE_NETWORKS = env.get_bool("CONNECTIONS_ALLOW_PRIVATE_NETWORKS", False)
CONNECTIONS_CATALOG_DIRS = env.get_list("CONNECTIONS_CATALOG_DIRS")
CONNECTIONS_REFRESH_AHEAD_SECONDS = env.get_int("CONNECTIONS_REFRESH_AHEAD_SECONDS", 600)
# How long one refresh may hold a connection's lease before others may take it over; a
# system check keeps it longer than one token call (below) plus a margin.
CONNECTIONS_REFRESH_LEASE_SECONDS = env.get_int("CONNECTIONS_REFRESH_LEASE_SECONDS", 60)
# The overall deadline of one call to a token endpoint (exchange, refresh, revocation,
# OAuth 1.0a token steps): connect, headers and body together.
CONNECTIONS_TOKEN_TIMEOUT_SECONDS = env.get_int("CONNECTIONS_TOKEN_TIMEOUT_SECONDS", 20)
# After a refresh fails for a passing reason, the next try waits this long, doubling per
# failure up to the maximum, with random jitter (tokens.py).
CONNECTIONS_REFRESH_BACKOFF_SECONDS = env.get_float("CONNECTIONS_REFRESH_BACKOFF_SECONDS", 30.0)
CONNECTIONS_REFRESH_BACKOFF_MAX_SECONDS = env.get_float("CONNECTIONS_REFRESH_BACKOFF_MAX_SECONDS", 3600.0)
# Celery tasks stop softly (and are killed at the hard limit): no task holds a worker.
CONNECTIONS_TASK_SOFT_TIME_LIMIT = env.get_int("CONNECTIONS_TASK_SOFT_TIME_LIMIT", 300)
CONNECTIONS_TASK_TIME_LIMIT = env.get_int("CONNECTIONS_TASK_TIME_LIMIT", 360)
# Browser-facing doors a script could hammer: login attempts and consent starts, per
# client address and window (seconds).
CONNECTIONS_LOGIN_RATE = env.get("CONNECTIONS_LOGIN_RATE") or "10/min"
CONNECTIONS_OAUTH_START_RATE = env.get("CONNECTIONS_OAUTH_START_RATE") or "30/min"
CONNECTIONS_INVOKE_MAX_BODY_BYTES = env.get_int("CONNECTIONS_INVOKE_MAX_BODY_BYTES", 10 * 1024 * 1024)
CONNECTIONS_INVOKE_DEFAULT_TIMEOUT = env.get_int("CONNECTIONS_INVOKE_DEFAULT_TIMEOUT", 30)
CONNECTIONS_INVOKE_MAX_TIMEOUT = env.get_int("CONNECTIONS_INVOKE_MAX_TIMEOUT", 120)
CONNECTIONS_INVOKE_RATE = env.get("CONNECTIONS_INVOKE_RATE") or "6000/min"
# MCP invoke results cut response bodies past this many characters (a model's context is small).
CONNECTIONS_MCP_MAX_BODY_CHARS = env.get_int("CONNECTIONS_MCP_MAX_BODY_CHARS", 100_000)
CONNECTIONS_AUTHORIZE_LINK_SECONDS = 30 * 60
CONNECTIONS_STATE_SECONDS = 10 * 60
# Invocation logs are inserted in batches this often (seconds); 0 inserts each at once.
CONNECTIONS_INVOCATION_LOG_FLUSH_SECONDS = env.get_float("CONNECTIONS_INVOCATION_LOG_FLUSH_SECONDS", 1.0)
CONNECTIONS_LOG_RETENTION_DAYS = env.get_int("CONNECTIONS_LOG_RETENTION_DAYS", 30)
CONNECTIONS_REFRESH_SWEEP_SECONDS = env.get_int("CONNECTIONS_REFRESH_SWEEP_SECONDS", 60)
REDIS_URL = env.get("REDIS_URL")
# Operations (docs/DEPLOY.md): /metrics asks for this Bearer token when it is set.
CONNECTIONS_METRICS_TOKEN = env.get("CONNECTIONS_METRICS_TOKEN")
# Without a token, /metrics is served only where this is false (dev, tests); prod sets it.
CONNECTIONS_METRICS_REQUIRE_TOKEN = False
# prometheus_client reads this variable itself; the settings only say which mode it is in.
PROMETHEUS_MULTIPROC_DIR = env.get("PROMETHEUS_MULTIPROC_DIR")
CONNECTIONS_WORKER_METRICS_PORT = env.get_int("CONNECTIONS_WORKER_METRICS_PORT", 0)
CONNECTIONS_WORKER_METRICS_ADDR = env.get("CONNECTIONS_WORKER_METRICS_ADDR") or "127.0.0.1"

# --- Django REST framework and the OpenAPI schema -------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "connections_app.api.authentication.TokenAuthentication",
        "connections_app.api.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["connections_app.api.permissions.RolePermission"],
    "DEFAULT_PAGINATION_CLASS": "connections_app.api.pagination.Pagination",
    "DEFAULT_SCHEMA_CLASS": "connections_app.api.schema.ConnectionsAutoSchema",
    "EXCEPTION_HANDLER": "connections_app.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Connections API",
    "DESCRIPTION": "Connect scripts to external services without handling their secrets.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
}

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    if not REDIS_URL
    else {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
}

# --- Celery ---------------------------------------------------------------------------
# Without Redis the embedded default uses kombu's file-system transport under var/, so the
# one run command still has a real worker and scheduler and needs no other service.
def filesystem_broker_options(var_dir):
    """kombu's file-system transport under var/: a real queue with no service to run."""
    folders = {
        "data_folder_in": var_dir / "broker" / "queue",
        "processed_folder": var_dir / "broker" / "processed",
        "control_folder": var_dir / "broker" / "control",
    }
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(folders["data_folder_in"]),
        "data_folder_out": str(folders["data_folder_in"]),
        "processed_folder": str(folders["processed_folder"]),
        "control_folder": str(folders["control_folder"]),
        "store_processed": False,
    }


CELERY_BROKER_URL = REDIS_URL or "filesystem://"
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600} if REDIS_URL else filesystem_broker_options(VAR_DIR)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SOFT_TIME_LIMIT = CONNECTIONS_TASK_SOFT_TIME_LIMIT
CELERY_TASK_TIME_LIMIT = CONNECTIONS_TASK_TIME_LIMIT
CELERY_BEAT_SCHEDULE = {
    "refresh-due-tokens": {
        "task": "connections_app.tasks.refresh_due",
        "schedule": float(CONNECTIONS_REFRESH_SWEEP_SECONDS),
    },
    "prune-invocation-logs": {"task": "connections_app.tasks.prune_invocation_logs", "schedule": 3600.0},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Every record carries the request id; production writes JSON lines (settings/prod.py).
    "filters": {"request_id": {"()": "connections_app.observability.logging.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "connections_app.observability.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": env.get("LOG_FORMAT") or "plain", "filters": ["request_id"]}
    },
    "root": {"handlers": ["console"], "level": env.get("LOG_LEVEL") or "INFO"},
    # At DEBUG these libraries log request lines and token exchanges, which can carry an
    # injected credential (an API key in a query string): keep them at WARNING whatever
    # LOG_LEVEL says.
    "loggers": {name: {"level": "WARNING"} for name in ("urllib3", "requests", "authlib", "httpx", "kombu.transport")},
}
# Keep a worker's database connection across tasks (Celery's Django fix-up closes it after
# every task by default; a refresh sweep then opens one connection per refresh). Django's
# CONN_MAX_AGE and health checks still bound its life.
CELERY_DB_REUSE_MAX = 200
