"""Invocation logs written in batches by a background thread (connections_app/invocation_logs.py)."""

import time

import pytest
from django.db import OperationalError, connection
from django.test import override_settings

from connections_app import invocation_logs
from connections_app.models import InvocationLog
from tests.factories import SECRET, invoke, make_connection, make_service

pytestmark = pytest.mark.django_db(transaction=True)  # the writer thread has its own connection


@pytest.fixture
def writer(monkeypatch):
    """A new writer for this process (its thread reads this test's flush interval)."""
    fresh = invocation_logs.InvocationLogWriter()
    monkeypatch.setattr(invocation_logs, "writer", fresh)
    yield fresh
    fresh.stop()


@pytest.fixture
def conn(admin, upstream):
    make_service(admin, base_url=upstream.url)
    make_connection(admin, "acme_api", credentials={"X-Api-Key": SECRET})


def call(admin, n=1, link_name="acme_main"):
    for _ in range(n):
        response = invoke(admin, connection=link_name, url="/protected/header/X-Api-Key")
        assert response.json()["status_code"] == 200, response.content


@override_settings(CONNECTIONS_INVOCATION_LOG_FLUSH_SECONDS=3600)
def test_rows_wait_in_memory_until_a_flush_writes_them_in_one_batch(admin, conn, writer, django_assert_num_queries):
    call(admin, 5)
    assert InvocationLog.objects.count() == 0 and writer.pending() == 5
    # One statement for the five rows (savepoint and release around it): an INSERT, or on
    # PostgreSQL a COPY, which Django's query log does not see.
    with django_assert_num_queries(2 if connection.vendor == "postgresql" else 3) as queries:
        assert writer.flush() == 5
    inserts = [q for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == (0 if connection.vendor == "postgresql" else 1)
    rows = list(InvocationLog.objects.order_by("id"))
    assert [r.status_code for r in rows] == [200] * 5 and all(SECRET not in r.url for r in rows)
    assert admin.get("/api/v1/connections/acme_main/logs/").json()["results"][0]["status_code"] == 200


@override_settings(CONNECTIONS_INVOCATION_LOG_FLUSH_SECONDS=0.05)
def test_the_background_thread_writes_them_within_the_interval(admin, conn, writer):
    call(admin, 3)
    deadline = time.monotonic() + 10
    while InvocationLog.objects.count() < 3:
        assert time.monotonic() < deadline, "the writer thread did not write the rows"
        time.sleep(0.02)
    assert writer.pending() == 0


@override_settings(CONNECTIONS_INVOCATION_LOG_FLUSH_SECONDS=3600)
def test_rows_of_a_connection_deleted_meanwhile_go_with_it_and_the_rest_are_kept(admin, conn, writer):
    make_connection(admin, "acme_api", link_name="acme_other", credentials={"X-Api-Key": SECRET})
    call(admin, 2)
    call(admin, 1, link_name="acme_other")
    assert admin.delete("/api/v1/connections/acme_other/").status_code == 204
    assert writer.flush() == 2
    assert list(InvocationLog.objects.values_list("connection__link_name", flat=True)) == ["acme_main", "acme_main"]


@override_settings(CONNECTIONS_INVOCATION_LOG_FLUSH_SECONDS=3600)
def test_while_the_database_refuses_rows_wait_and_a_later_flush_writes_them(admin, conn, writer, monkeypatch, caplog):
    call(admin, 2)
    real = invocation_logs._insert

    def down(batch):
        raise OperationalError("connection refused")

    monkeypatch.setattr(invocation_logs, "_insert", down)
    assert writer.flush() == 0 and writer.pending() == 2
    assert "invocation logs not written yet (2 pending): OperationalError" in caplog.text
    monkeypatch.setattr(invocation_logs, "_insert", real)
    assert writer.flush() == 2 and InvocationLog.objects.count() == 2


@override_settings(CONNECTIONS_INVOCATION_LOG_FLUSH_SECONDS=3600)
def test_past_the_pending_limit_the_oldest_rows_are_dropped_and_counted(admin, conn, writer, monkeypatch):
    from connections_app.observability.metrics import INVOCATION_LOGS_DROPPED

    monkeypatch.setattr(invocation_logs, "MAX_PENDING", 2)
    before = INVOCATION_LOGS_DROPPED._value.get()
    call(admin, 3)
    assert writer.pending() == 2 and INVOCATION_LOGS_DROPPED._value.get() == before + 1
    assert writer.flush() == 2
