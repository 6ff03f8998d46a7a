"""The refresh sweep (tasks.refresh_due): every due connection enqueued once, in chunks,
and not again while its refresh is on the way."""

from datetime import timedelta

import pytest
from django.utils import timezone

from connections_app import tasks
from connections_app.models import Connection, ConnectionStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def enqueued(monkeypatch):
    calls = []
    monkeypatch.setattr(tasks.refresh_connection, "apply_async", lambda args, countdown=0: calls.append((args[0], countdown)))
    return calls


def make(org, name, *, expires_in, status=ConnectionStatus.CONNECTED):
    return Connection.objects.create(organisation=org, link_name=name, name=name, service_link_name="github", status=status,
                                     expires_at=timezone.now() + timedelta(seconds=expires_in))


def sweep(capture) -> int:
    with capture(execute=True):  # the tasks are sent once the marks are committed
        return tasks.refresh_due()


def test_a_sweep_enqueues_every_due_connection_once_in_chunks(org, enqueued, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(tasks, "SWEEP_CHUNK", 3)
    due = [make(org, f"due_{i}", expires_in=120) for i in range(7)]
    make(org, "later", expires_in=7200)
    make(org, "pending", expires_in=60, status=ConnectionStatus.PENDING)
    assert sweep(django_capture_on_commit_callbacks) == 7
    assert sorted(pk for pk, _ in enqueued) == sorted(c.pk for c in due)
    assert all(0 <= countdown <= tasks.MAX_JITTER_SECONDS for _, countdown in enqueued)
    assert Connection.objects.filter(refresh_queued_at__isnull=False).count() == 7


def test_the_next_sweep_skips_what_is_queued_until_the_grace_runs_out(org, enqueued, django_capture_on_commit_callbacks):
    first = make(org, "due_a", expires_in=120)
    assert sweep(django_capture_on_commit_callbacks) == 1
    assert sweep(django_capture_on_commit_callbacks) == 0  # its task is on the way
    Connection.objects.filter(pk=first.pk).update(refresh_queued_at=timezone.now() - tasks.QUEUED_GRACE - timedelta(seconds=1))
    assert sweep(django_capture_on_commit_callbacks) == 1  # lost (a worker died): enqueued again
    assert [pk for pk, _ in enqueued] == [first.pk, first.pk]
