"""System checks that stop start-up when stored secrets cannot be used.

``runserver``, ``migrate``, ``check`` and the production start script all run these, so a
missing, malformed or wrong ``CONNECTIONS_ENCRYPTION_KEYS`` stops the process before it
serves a request or writes anything.
"""

from __future__ import annotations

from django.core.checks import Error, register
from django.db import DatabaseError

from . import crypto

ENCRYPTED_FIELDS = {
    "connections_app.Connection": ["credentials_encrypted"],
    "connections_app.CustomService": ["client_secret_encrypted"],
    "connections_app.ServiceClient": ["client_secret_encrypted"],
    "connections_app.OAuthState": ["secrets_encrypted"],
    "connections_app.Organisation": ["webhook_secret_encrypted"],
}


@register("connections", deploy=False)
def check_encryption_keys(app_configs=None, **kwargs):
    try:
        crypto.validate_keys()
    except crypto.EncryptionKeyUnavailable as exc:
        return [Error(str(exc), hint="Set CONNECTIONS_ENCRYPTION_KEYS to comma-separated Fernet keys, newest first.", id="connections.E001")]
    try:
        missing = rows_needing_missing_keys()
        unreadable = _first_unreadable_legacy_secret()
    except DatabaseError:
        return []  # no tables yet (before the first migrate): nothing stored to check
    errors = []
    if missing:
        where = "; ".join(
            f"{table}: {', '.join(f'{n} row(s) under key id {kid}' for kid, n in sorted(kids.items()))}"
            for table, kids in sorted(missing.items())
        )
        errors.append(Error(
            f"Stored secrets need keys that are not in CONNECTIONS_ENCRYPTION_KEYS ({where}).",
            hint="Put those keys back (after the new one) and run 'manage.py rotate_encryption_keys' before removing "
            "them; 'rotate_encryption_keys --check' lists rows per key. Nothing was changed.",
            id="connections.E002",
        ))
    if unreadable:
        errors.append(Error(
            f"Stored secrets in {unreadable} cannot be decrypted with CONNECTIONS_ENCRYPTION_KEYS.",
            hint="Put back the key they were written with (after the new one) and run "
            "'manage.py rotate_encryption_keys' before removing it. Nothing was changed.",
            id="connections.E002",
        ))
    return errors


def rows_per_key() -> dict[str, dict[str, int]]:
    """For each table (and field) holding secrets: how many rows each key id encrypted, one
    GROUP BY on the key id each stored value starts with ("no key id" for older values)."""
    from django.apps import apps
    from django.db.models import Count
    from django.db.models.functions import Substr

    width = len(crypto.key_id("x")) + 1
    out: dict[str, dict[str, int]] = {}
    for label, fields in ENCRYPTED_FIELDS.items():
        model = apps.get_model(label)
        for field in fields:
            counts: dict[str, int] = {}
            rows = (
                model.objects.exclude(**{field: ""}).annotate(prefix=Substr(field, 1, width))
                .values("prefix").annotate(n=Count("pk")).values_list("prefix", "n")
            )
            for prefix, n in rows:
                kid = prefix[:-1] if prefix.endswith(crypto.KEY_ID_SEPARATOR) else "no key id"
                counts[kid] = counts.get(kid, 0) + n
            out[f"{model._meta.verbose_name_plural} ({field})"] = counts
    return out


def rows_needing_missing_keys() -> dict[str, dict[str, int]]:
    configured = set(crypto.configured_key_ids())
    missing = {}
    for table, counts in rows_per_key().items():
        gone = {kid: n for kid, n in counts.items() if kid != "no key id" and kid not in configured}
        if gone:
            missing[table] = gone
    return missing


def _first_unreadable_legacy_secret() -> str | None:
    """Values from before key ids: probe the newest and oldest of each table."""
    from django.apps import apps

    for label, fields in ENCRYPTED_FIELDS.items():
        model = apps.get_model(label)
        for field in fields:
            qs = model.objects.exclude(**{field: ""}).exclude(**{f"{field}__contains": crypto.KEY_ID_SEPARATOR})
            qs = qs.values_list(field, flat=True)
            for token in (qs.order_by("pk").first(), qs.order_by("-pk").first()):
                if token and not crypto.can_decrypt(token):
                    return f"{model._meta.verbose_name_plural} ({field})"
    return None


MIN_SQLITE = (3, 35)  # UPDATE ... RETURNING (the refresh lease, tokens.py)


@register("connections", "database", deploy=False)
def check_sqlite_version(app_configs=None, databases=None, **kwargs):
    import sqlite3

    from django.db import connections

    if connections["default"].vendor != "sqlite" or sqlite3.sqlite_version_info >= MIN_SQLITE:
        return []
    need = ".".join(map(str, MIN_SQLITE))
    return [Error(
        f"SQLite {sqlite3.sqlite_version} is too old: Connections needs {need} or newer (UPDATE ... RETURNING).",
        hint="Use a Python built with a newer SQLite, or PostgreSQL (DATABASE_URL).", id="connections.E003",
    )]


LEASE_MARGIN_SECONDS = 10  # database writes and scheduling around the token call


@register("connections", deploy=False)
def check_refresh_lease(app_configs=None, **kwargs):
    """The refresh lease must outlive the longest token call, or a second worker could take
    the lease while the first still waits for the provider and both refresh."""
    from django.conf import settings

    lease = settings.CONNECTIONS_REFRESH_LEASE_SECONDS
    token_call = settings.CONNECTIONS_TOKEN_TIMEOUT_SECONDS
    errors = []
    if lease <= token_call + LEASE_MARGIN_SECONDS:
        errors.append(Error(
            f"CONNECTIONS_REFRESH_LEASE_SECONDS ({lease}) must be longer than CONNECTIONS_TOKEN_TIMEOUT_SECONDS "
            f"({token_call}) plus {LEASE_MARGIN_SECONDS} s, or two refreshes of one token can overlap.",
            hint=f"Set CONNECTIONS_REFRESH_LEASE_SECONDS to at least {token_call + LEASE_MARGIN_SECONDS + 1}.",
            id="connections.E004",
        ))
    soft, hard = settings.CONNECTIONS_TASK_SOFT_TIME_LIMIT, settings.CONNECTIONS_TASK_TIME_LIMIT
    if not 0 < soft < hard or soft <= token_call + LEASE_MARGIN_SECONDS:
        errors.append(Error(
            f"Celery task time limits: CONNECTIONS_TASK_SOFT_TIME_LIMIT ({soft}) must be above one token call "
            f"plus margin ({token_call + LEASE_MARGIN_SECONDS}) and below CONNECTIONS_TASK_TIME_LIMIT ({hard}).",
            id="connections.E005",
        ))
    return errors
