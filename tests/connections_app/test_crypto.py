
import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError

from connections_app import crypto
from connections_app.checks import check_encryption_keys
from connections_app.models import Connection, ConnectionStatus

OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()


def test_round_trip_and_random_iv(settings):
    settings.CONNECTIONS_ENCRYPTION_KEYS = [NEW]
    a = crypto.encrypt({"k": "secret"}, context="c1")
    b = crypto.encrypt({"k": "secret"}, context="c1")
    assert a != b  # equal secrets give different ciphertexts
    assert crypto.decrypt(a, context="c1") == {"k": "secret"}
    assert "secret" not in a


def test_context_binding(settings):
    settings.CONNECTIONS_ENCRYPTION_KEYS = [NEW]
    token = crypto.encrypt("s3cr3t", context="connection:1:abc")
    with pytest.raises(crypto.CiphertextContextMismatch):
        crypto.decrypt(token, context="connection:2:abc")


def test_wrong_key_is_refused_loudly(settings):
    settings.CONNECTIONS_ENCRYPTION_KEYS = [OLD]
    token = crypto.encrypt("s3cr3t", context="c")
    settings.CONNECTIONS_ENCRYPTION_KEYS = [NEW]
    with pytest.raises(crypto.EncryptionKeyUnavailable) as err:
        crypto.decrypt(token, context="c")
    assert "CONNECTIONS_ENCRYPTION_KEYS" in str(err.value)
    assert "s3cr3t" not in str(err.value)


def test_rotation_with_old_and_new_keys(settings):
    settings.CONNECTIONS_ENCRYPTION_KEYS = [OLD]
    token = crypto.encrypt("s3cr3t", context="c")
    settings.CONNECTIONS_ENCRYPTION_KEYS = [NEW, OLD]
    assert crypto.decrypt(token, context="c") == "s3cr3t"
    assert not crypto.is_current(token)
    rotated = crypto.rotate(token)
    assert crypto.is_current(rotated)
    settings.CONNECTIONS_ENCRYPTION_KEYS = [NEW]
    assert crypto.decrypt(rotated, context="c") == "s3cr3t"


def test_malformed_key_is_named(settings):
    settings.CONNECTIONS_ENCRYPTION_KEYS = ["not-a-key"]
    errors = check_encryption_keys()
    assert errors and errors[0].id == "connections.E001"
    assert "CONNECTIONS_ENCRYPTION_KEYS" in errors[0].msg


def _api_key_connection(org, link_name="c1", secret="plain-secret-value-1234"):
    conn = Connection(organisation=org, link_name=link_name, name="C", service_link_name="stripe", status=ConnectionStatus.CONNECTED)
    conn.set_credentials({"Authorization": f"Bearer {secret}"})
    conn.save()
    return conn


@pytest.mark.django_db
def test_wrong_key_fails_the_system_check_and_changes_nothing(settings, org):
    settings.CONNECTIONS_ENCRYPTION_KEYS = [OLD]
    conn = _api_key_connection(org)
    before = Connection.objects.get(pk=conn.pk).credentials_encrypted
    settings.CONNECTIONS_ENCRYPTION_KEYS = [NEW]
    errors = check_encryption_keys()
    assert [e.id for e in errors] == ["connections.E002"]
    assert Connection.objects.get(pk=conn.pk).credentials_encrypted == before


@pytest.mark.django_db
def test_copied_ciphertext_does_not_decrypt_on_another_row_or_org(settings, org, other_org):
    settings.CONNECTIONS_ENCRYPTION_KEYS = [NEW]
    a = _api_key_connection(org, "a")
    b = _api_key_connection(other_org, "b", secret="other-secret-value-9876")
    b.credentials_encrypted = a.credentials_encrypted
    b.save()
    with pytest.raises(crypto.EncryptionKeyUnavailable):
        Connection.objects.get(pk=b.pk).credentials


@pytest.mark.django_db
def test_rotate_command_is_idempotent_and_resumable(settings, org):
    settings.CONNECTIONS_ENCRYPTION_KEYS = [OLD]
    conns = [_api_key_connection(org, f"c{i}", secret=f"secret-number-{i:04d}") for i in range(7)]
    settings.CONNECTIONS_ENCRYPTION_KEYS = [NEW, OLD]
    call_command("rotate_encryption_keys", "--batch-size", "3", stdout=open("/dev/null", "w"))
    settings.CONNECTIONS_ENCRYPTION_KEYS = [NEW]
    for i, conn in enumerate(conns):
        assert Connection.objects.get(pk=conn.pk).credentials == {"Authorization": f"Bearer secret-number-{i:04d}"}
    snapshot = list(Connection.objects.order_by("pk").values_list("credentials_encrypted", flat=True))
    call_command("rotate_encryption_keys", stdout=open("/dev/null", "w"))  # nothing left to do
    assert list(Connection.objects.order_by("pk").values_list("credentials_encrypted", flat=True)) == snapshot


@pytest.mark.django_db
def test_rotate_refuses_when_a_key_is_missing_and_keeps_the_row(settings, org):
    settings.CONNECTIONS_ENCRYPTION_KEYS = [OLD]
    conn = _api_key_connection(org)
    before = Connection.objects.get(pk=conn.pk).credentials_encrypted
    settings.CONNECTIONS_ENCRYPTION_KEYS = [NEW]  # the old key was removed too early
    with pytest.raises(CommandError) as err:
        call_command("rotate_encryption_keys", stdout=open("/dev/null", "w"))
    assert "CONNECTIONS_ENCRYPTION_KEYS" in str(err.value)
    assert Connection.objects.get(pk=conn.pk).credentials_encrypted == before


@pytest.mark.django_db(transaction=True)
def test_no_plaintext_secret_in_the_database_file(settings, org):
    from django.db import connection as db

    if db.vendor != "sqlite":
        pytest.skip("reads the SQLite file directly (the PostgreSQL run checks the rows instead)")
    _api_key_connection(org, secret="canary-plaintext-0f9e8d7c")
    db.close()
    raw = open(db.settings_dict["NAME"], "rb").read()
    assert b"canary-plaintext-0f9e8d7c" not in raw
    assert b"Bearer canary" not in raw


@pytest.mark.django_db
def test_no_plaintext_secret_in_any_row(org):
    from django.db import connection as db

    _api_key_connection(org, secret="canary-plaintext-1a2b3c4d")
    with db.cursor() as cursor:
        cursor.execute("SELECT credentials_encrypted FROM connections_app_connection")
        values = [row[0] for row in cursor.fetchall()]
    assert values and all("canary-plaintext" not in v for v in values)


def test_an_sqlite_too_old_for_returning_stops_start_up(monkeypatch):
    import sqlite3

    from django.db import connection

    from connections_app import checks

    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 34, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.34.1")
    errors = checks.check_sqlite_version()
    if connection.vendor == "sqlite":
        assert [e.id for e in errors] == ["connections.E003"] and "3.34.1" in errors[0].msg
    else:
        assert errors == []  # PostgreSQL: not concerned
    monkeypatch.undo()
    assert checks.check_sqlite_version() == []
