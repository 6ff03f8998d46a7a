"""Request ids in every log record, and one JSON object per log line.

A request id lives in a context variable from the start of a request to Django's
``request_finished`` (see ``middleware.RequestIdMiddleware``); ``RequestIdFilter`` copies it onto each record that
reaches a handler, so third-party loggers carry it too. ``JsonFormatter`` writes records
as single-line JSON; gunicorn's access records (whose ``args`` are a mapping of atoms) are
turned into fields, without the query string, which can carry OAuth codes.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Mapping
from datetime import datetime, timezone

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "request_id"}
# Extras are written only when plain values (see JsonFormatter.format).
_PLAIN = (str, int, float, bool, type(None))
# gunicorn access atoms worth a field (never request headers: they carry API tokens).
_ACCESS_FIELDS = {"m": "method", "U": "path", "s": "status", "B": "bytes", "M": "duration_ms", "h": "remote_addr", "a": "user_agent"}


class RequestIdFilter(logging.Filter):
    """Put the current request id (or None) on every record as ``request_id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, request_id, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
        }
        if record.name == "gunicorn.access" and isinstance(record.args, Mapping):
            entry.update(_access_fields(record.args))
        else:
            entry["message"] = record.getMessage()
            rid = getattr(record, "request_id", None) or request_id.get()
            if rid:
                entry["request_id"] = rid
            for key, value in vars(record).items():
                # Plain values only: an object such as Django's ``request`` extra would be
                # rendered with its query string, which may hold an OAuth code.
                if key not in _STANDARD and not key.startswith("_") and isinstance(value, _PLAIN):
                    entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def _access_fields(atoms: Mapping) -> dict:
    fields = {name: atoms.get(atom) for atom, name in _ACCESS_FIELDS.items()}
    fields["status"] = _int_or_none(fields["status"])
    fields["message"] = f"{fields['method']} {fields['path']} {fields['status']}"
    rid = atoms.get("{x-request-id}o")
    if rid and rid != "-":
        fields["request_id"] = rid
    return fields


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
