"""Invocation logs older than CONNECTIONS_LOG_RETENTION_DAYS are deleted, in batches, and
nothing newer is touched."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from connections_app.models import Connection, InvocationLog
from connections_app.tasks import prune_invocation_logs
from tests.factories import SECRET, make_connection, make_service

pytestmark = pytest.mark.django_db


@pytest.fixture
def logs(admin, other_org, member_client):
    """Logs 1 h to 49.5 days old, one every 12 hours, in two organisations (no log sits on a boundary)."""
    rows = []
    now = timezone.now()
    for client in (admin, member_client(other_org)):
        make_service(client, base_url="https://api.acme.example", hosts=("api.acme.example",))
        make_connection(client, "acme_api", credentials={"X-Api-Key": SECRET})
    for conn in Connection.objects.all():
        rows += [InvocationLog(organisation_id=conn.organisation_id, connection=conn, at=now - timedelta(hours=12 * i + 1),
                               method="GET", url="https://api.acme.example/x", status_code=200) for i in range(100)]
    InvocationLog.objects.bulk_create(rows)
    return now


def test_deletes_only_logs_older_than_the_retention_in_batches(logs, settings):
    settings.CONNECTIONS_LOG_RETENTION_DAYS = 30
    cutoff = timezone.now() - timedelta(days=30)
    old = InvocationLog.objects.filter(at__lt=cutoff).count()
    kept = set(InvocationLog.objects.filter(at__gte=cutoff).values_list("pk", flat=True))
    assert old == 2 * 40 and len(kept) == 2 * 60

    with CaptureQueriesContext(connection) as queries:
        assert prune_invocation_logs(batch_size=25) == old
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == 4  # 80 rows in batches of at most 25
    assert set(InvocationLog.objects.values_list("pk", flat=True)) == kept
    assert prune_invocation_logs(batch_size=25) == 0  # nothing left to do


def test_retention_follows_the_setting(logs, settings):
    settings.CONNECTIONS_LOG_RETENTION_DAYS = 7
    assert prune_invocation_logs() == 2 * (100 - 14)  # 14 logs each in the last 7 days
    assert not InvocationLog.objects.filter(at__lt=timezone.now() - timedelta(days=7)).exists()
    assert Connection.objects.count() == 2  # connections stay
