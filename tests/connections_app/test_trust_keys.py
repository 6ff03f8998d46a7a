"""Issue 12, point 7: every stored value names the key that encrypted it, so "does any row
still need the old key" is one exact query, ``rotate_encryption_keys --check`` prints rows
per key, and start-up refuses to drop a key that any row needs, naming the tables."""

from importlib import import_module
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError

from connections_app import crypto
from connections_app.checks import check_encryption_keys, rows_per_key
from connections_app.models import Connection, ConnectionStatus

pytestmark = pytest.mark.django_db
OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()
TABLE = "connections (credentials_encrypted)"


def _connections(org, n):
    made = []
    for i in range(n):
        connection = Connection(organisation=org, link_name=f"c{i}", name="c", service_link_name="x", status=ConnectionStatus.CONNECTED)
        connection.set_credentials({"X-Api-Key": f"secret-value-{i:04d}"})
        connection.save()
        made.append(connection)
    return made


def test_each_value_names_its_key(settings):
    settings.CONNECTIONS_ENCRYPTION_KEYS = [NEW, OLD]
    stored = crypto.encrypt("s3cr3t", context="c")
    assert stored.startswith(crypto.key_id(NEW) + ":") and crypto.key_id_of(stored) == crypto.key_id(NEW)
    assert crypto.key_id(NEW) != crypto.key_id(OLD) and NEW not in stored


def test_a_row_in_the_middle_under_a_removed_key_stops_start_up(org, settings):
    """Only the middle row is still under the old key: probing the first and last rows
    (as before) missed it; the key-id query finds it and names the table."""
    settings.CONNECTIONS_ENCRYPTION_KEYS = [OLD]
    first, middle, last = _connections(org, 3)
    settings.CONNECTIONS_ENCRYPTION_KEYS = [NEW, OLD]
    for row in (first, last):
        Connection.objects.filter(pk=row.pk).update(credentials_encrypted=crypto.rotate(row.credentials_encrypted))
    assert check_encryption_keys() == []
    settings.CONNECTIONS_ENCRYPTION_KEYS = [NEW]
    errors = check_encryption_keys()
    assert [e.id for e in errors] == ["connections.E002"]
    assert TABLE in errors[0].msg and crypto.key_id(OLD) in errors[0].msg and "1 row(s)" in errors[0].msg
    assert Connection.objects.get(pk=middle.pk).credentials_encrypted.startswith(crypto.key_id(OLD))  # nothing changed


def test_rotate_check_prints_rows_per_key_and_says_when_a_key_can_go(org, settings):
    settings.CONNECTIONS_ENCRYPTION_KEYS = [OLD]
    _connections(org, 3)
    settings.CONNECTIONS_ENCRYPTION_KEYS = [NEW, OLD]
    _connections_new = Connection(organisation=org, link_name="fresh", name="f", service_link_name="x")
    _connections_new.set_credentials({"X-Api-Key": "secret-value-new1"})
    _connections_new.save()
    out = StringIO()
    call_command("rotate_encryption_keys", "--check", stdout=out)
    line = next(line for line in out.getvalue().splitlines() if line.startswith(TABLE))
    assert f"key 1 ({crypto.key_id(NEW)}, newest): 1" in line and f"key 2 ({crypto.key_id(OLD)}): 3" in line
    assert "can be removed" not in out.getvalue()
    assert rows_per_key()[TABLE] == {crypto.key_id(NEW): 1, crypto.key_id(OLD): 3}
    call_command("rotate_encryption_keys", stdout=StringIO())
    out = StringIO()
    call_command("rotate_encryption_keys", "--check", stdout=out)
    assert f"key 2 ({crypto.key_id(OLD)}): 0" in out.getvalue() and "can be removed" in out.getvalue()
    settings.CONNECTIONS_ENCRYPTION_KEYS = [NEW]
    assert check_encryption_keys() == []


def test_rotate_check_fails_while_a_row_needs_a_missing_key(org, settings):
    settings.CONNECTIONS_ENCRYPTION_KEYS = [OLD]
    _connections(org, 1)
    settings.CONNECTIONS_ENCRYPTION_KEYS = [NEW]
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("rotate_encryption_keys", "--check", stdout=out)
    assert f"key id {crypto.key_id(OLD)} (NOT CONFIGURED): 1" in out.getvalue()


def test_values_from_before_key_ids_still_open_and_the_migration_tags_them(org, settings):
    settings.CONNECTIONS_ENCRYPTION_KEYS = [NEW, OLD]
    (row,) = _connections(org, 1)
    legacy = row.credentials_encrypted.split(":", 1)[1]  # as written before key ids
    Connection.objects.filter(pk=row.pk).update(credentials_encrypted=legacy)
    assert Connection.objects.get(pk=row.pk).credentials == {"X-Api-Key": "secret-value-0000"}
    assert rows_per_key()[TABLE] == {"no key id": 1}
    migration = import_module("connections_app.migrations.0005_trust_refresh_backoff_client_refused")
    migration.tag_key_ids(apps, None)
    assert rows_per_key()[TABLE] == {crypto.key_id(NEW): 1}
    assert Connection.objects.get(pk=row.pk).credentials == {"X-Api-Key": "secret-value-0000"}
