"""Invocation log rows, written in batches off the request path.

An insert per invoke costs a database round trip and a commit on the request thread; on a
busy server that is the largest part of invoke's own time. So invoke hands its row to this
process's writer, and one background thread inserts whatever has gathered every
``CONNECTIONS_INVOCATION_LOG_FLUSH_SECONDS`` (one ``bulk_create`` per batch). With the
setting at 0 the row is inserted at once, in the request (the tests use that).

What can be lost: rows still pending when a process is killed without a chance to flush
(``SIGKILL``, a crash). A normal stop flushes (``atexit``; gunicorn's ``worker_exit`` calls
``flush`` too). When the database is down the rows wait, up to ``MAX_PENDING``; beyond that
the oldest are dropped and counted (``connections_invocation_logs_dropped_total``).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections import deque

from django.conf import settings
from django.db import DatabaseError, IntegrityError, close_old_connections, connection, connections, transaction

from .models import Connection, InvocationLog

logger = logging.getLogger(__name__)

MAX_BATCH = 1000
MAX_PENDING = 50_000


class InvocationLogWriter:
    def __init__(self) -> None:
        self._pending: deque[InvocationLog] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.dropped = 0

    def add(self, row: InvocationLog) -> None:
        """Record ``row``: now when batching is off, else within the flush interval."""
        if not settings.CONNECTIONS_INVOCATION_LOG_FLUSH_SECONDS:
            row.save(force_insert=True)
            return
        with self._lock:
            if len(self._pending) >= MAX_PENDING:
                self._pending.popleft()
                self.dropped += 1
                _count_dropped()
            self._pending.append(row)
            if self._thread is None:
                self._start()
            if len(self._pending) >= MAX_BATCH:
                self._wake.set()

    def pending(self) -> int:
        return len(self._pending)

    def flush(self) -> int:
        """Insert everything pending now, in this thread; return how many rows were written."""
        written = 0
        while True:
            with self._lock:
                batch = [self._pending.popleft() for _ in range(min(MAX_BATCH, len(self._pending)))]
            if not batch:
                return written
            try:
                written += _insert(batch)
            except DatabaseError as exc:
                with self._lock:  # put them back, oldest first, and try again later
                    self._pending.extendleft(reversed(batch))
                logger.warning("invocation logs not written yet (%d pending): %s", len(self._pending), type(exc).__name__)
                return written

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="invocation-log-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Write what is pending and end the thread (tests; a process just exits)."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(settings.CONNECTIONS_INVOCATION_LOG_FLUSH_SECONDS)
            self._wake.clear()
            if not self._pending:
                continue  # idle: touch nothing, not even the database connection
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - the writer thread must outlive any one failure
                logger.exception("invocation log writer failed")
            finally:
                close_old_connections()  # this thread's own connection, past its max age

    def _after_fork(self) -> None:
        # A forked child has the parent's rows (the parent writes those) but not its thread.
        self._pending.clear()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None


def _insert(batch: list[InvocationLog]) -> int:
    try:
        return _write(batch)
    except IntegrityError:
        # A connection was deleted after its call: its rows go with it, the others stay.
        alive = set(Connection.objects.filter(pk__in={r.connection_id for r in batch}).values_list("pk", flat=True))
        return _write([r for r in batch if r.connection_id in alive])


def _write(rows: list[InvocationLog]) -> int:
    with transaction.atomic():
        if connection.vendor == "postgresql":
            _copy(rows)
        else:
            InvocationLog.objects.bulk_create(rows)
    return len(rows)


def _copy(rows: list[InvocationLog]) -> None:
    """PostgreSQL: the rows through ``COPY ... FROM STDIN`` (psycopg's copy): no SQL text or
    parameter list is built in this process, on the GIL the request threads share (about a
    third less of its CPU per row than ``bulk_create``'s multi-row ``INSERT``)."""
    fields = [f for f in InvocationLog._meta.concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    sql = f"COPY {quote(InvocationLog._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) FROM STDIN"
    with connection.cursor() as cursor, connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row([f.get_db_prep_save(getattr(row, f.attname), connection) for f in fields])


def _count_dropped() -> None:
    from .observability.metrics import INVOCATION_LOGS_DROPPED

    INVOCATION_LOGS_DROPPED.inc()


writer = InvocationLogWriter()
os.register_at_fork(after_in_child=writer._after_fork)


@atexit.register
def _flush_at_exit() -> None:
    if writer.pending():
        try:
            writer.flush()
        finally:
            connections.close_all()
