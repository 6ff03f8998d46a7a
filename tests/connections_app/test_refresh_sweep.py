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
    """(connection id, countdown) of each connection the sweep sent, whatever its batch."""
    calls = []
    monkeypatch.setattr(tasks.refresh_connections, "apply_async",
                        lambda args, countdown=0: calls.extend((pk, countdown) for pk in args[0]))
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


def test_a_big_sweep_sends_batches_and_a_small_one_one_connection_per_task(org, monkeypatch, django_capture_on_commit_callbacks):
    batches = []
    monkeypatch.setattr(tasks.refresh_connections, "apply_async", lambda args, countdown=0: batches.append(args[0]))
    for i in range(3):
        make(org, f"few_{i}", expires_in=120)
    sweep(django_capture_on_commit_callbacks)
    assert [len(b) for b in batches] == [1, 1, 1]
    batches.clear()
    Connection.objects.bulk_create([
        Connection(organisation=org, link_name=f"many_{i}", name="m", service_link_name="github", status=ConnectionStatus.CONNECTED,
                   expires_at=timezone.now() + timedelta(seconds=120)) for i in range(1100)
    ])
    assert sweep(django_capture_on_commit_callbacks) == 1100
    assert max(len(b) for b in batches) == tasks.REFRESH_BATCH and sum(len(b) for b in batches) == 1100


def test_the_next_sweep_skips_what_is_queued_until_the_grace_runs_out(org, enqueued, django_capture_on_commit_callbacks):
    first = make(org, "due_a", expires_in=120)
    assert sweep(django_capture_on_commit_callbacks) == 1
    assert sweep(django_capture_on_commit_callbacks) == 0  # its task is on the way
    Connection.objects.filter(pk=first.pk).update(refresh_queued_at=timezone.now() - tasks.QUEUED_GRACE - timedelta(seconds=1))
    assert sweep(django_capture_on_commit_callbacks) == 1  # lost (a worker died): enqueued again
    assert [pk for pk, _ in enqueued] == [first.pk, first.pk]


def test_a_batch_goes_on_past_a_failing_connection_which_waits_out_its_backoff(org, monkeypatch):
    """A passing failure is not retried at once by a task of its own: its backoff is stored
    on the connection (tokens.backoff_delay) and a later sweep picks it up."""
    outcomes = {1: "refreshed", 2: tasks.TransientRefreshError("HTTP 503"), 3: "needs-reauth"}

    def refresh_one(pk, force=False):
        if isinstance(outcomes[pk], Exception):
            raise outcomes[pk]
        return outcomes[pk]

    retried = []
    monkeypatch.setattr(tasks, "refresh_one", refresh_one)
    monkeypatch.setattr(tasks.refresh_connection, "apply_async", lambda args, countdown=0: retried.append((args, countdown)))
    assert tasks.refresh_connections.run([1, 2, 3]) == {"refreshed": 1, "backing-off": 1, "needs-reauth": 1}
    assert retried == []
