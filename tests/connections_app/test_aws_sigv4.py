"""AWS Signature Version 4 end to end: invoke signs with botocore, and a server that
verifies signatures for real (tests/servers/sigv4_server.py) accepts or refuses."""

from __future__ import annotations

import contextlib
import hashlib

import pytest

from connections_app.models import Connection
from tests.catalog_entries import catalog_entry  # noqa: F401  (a fixture)
from tests.factories import invoke
from tests.servers.runner import serving
from tests.servers.sigv4_server import create_sigv4_server

pytestmark = pytest.mark.django_db

KEY_ID = "AKIAREACHTEST0001"
SECRET = "aws-secret-canary-9d2c/0Zx+wq"
SESSION = "aws-session-canary-FwoGZXIvYXdzE"


@pytest.fixture(scope="module")
def _servers():
    with contextlib.ExitStack() as stack:
        yield {name: stack.enter_context(serving(*create_sigv4_server(region="eu-west-1", service=name))) for name in ("dynamodb", "s3")}


@pytest.fixture
def aws(_servers):
    """The verifying server for DynamoDB, with only this test's key and nothing seen yet."""
    control = _servers["dynamodb"]
    control.keys.clear()
    control.session_tokens.clear()
    control.keys[KEY_ID] = SECRET
    return control


@pytest.fixture
def aws_service(catalog_entry):
    """A catalog entry signing for ``signing_name`` in the connection's region."""

    def add(aws, *, signing_name="dynamodb"):
        return catalog_entry({
            "link_name": "aws_api", "name": "AWS API", "auth_type": "aws_sigv4", "base_url": aws.url,
            "allowed_hosts": ["127.0.0.1"], "aws": {"service": signing_name, "region": "{region}"},
            "config_fields": [{"name": "region", "choices": ["eu-west-1", "us-east-1"], "default": "us-east-1"}],
        })

    return add


def connect(admin, credentials, region="eu-west-1"):
    response = admin.post("/api/v1/connections/", {
        "name": "AWS", "link_name": "acme_main", "service": "aws_api", "credentials": credentials, "config": {"region": region},
    }, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_a_signed_call_with_a_body_is_verified(admin, aws, aws_service):
    aws_service(aws)
    body = connect(admin, {"access_key_id": KEY_ID, "secret_access_key": SECRET})
    assert body["status"] == "connected"
    envelope = invoke(admin, url="/", method="POST", json={"TableName": "orders"}, headers={"X-Amz-Target": "DynamoDB_20120810.ListTables"}).json()
    assert envelope["status_code"] == 200, envelope
    seen = aws.requests[-1]
    assert seen["verdict"] == "ok" and seen["body"] == b'{"TableName": "orders"}'
    signed = seen["headers"]["Authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    assert "x-amz-target" in signed and "x-amz-date" in signed and "content-type" in signed
    assert SECRET not in str(envelope)


def test_a_wrong_secret_is_refused(admin, aws, aws_service):
    aws_service(aws)
    connect(admin, {"access_key_id": KEY_ID, "secret_access_key": "not-the-secret-0000"})
    envelope = invoke(admin, url="/", method="POST", json={}).json()
    assert envelope["status_code"] == 403 and aws.requests[-1]["verdict"] == "SignatureDoesNotMatch"


def test_the_region_comes_from_the_connection_config(admin, aws, aws_service):
    aws_service(aws)
    connect(admin, {"access_key_id": KEY_ID, "secret_access_key": SECRET}, region="us-east-1")
    envelope = invoke(admin, url="/", method="POST", json={}).json()
    assert envelope["status_code"] == 403  # signed for us-east-1; this endpoint is eu-west-1
    assert "/us-east-1/dynamodb/aws4_request" in aws.requests[-1]["headers"]["Authorization"]


def test_a_session_token_travels_and_is_signed(admin, aws, aws_service):
    aws.session_tokens[KEY_ID] = SESSION
    aws_service(aws)
    connect(admin, {"access_key_id": KEY_ID, "secret_access_key": SECRET, "session_token": SESSION})
    envelope = invoke(admin, url="/items", params={"limit": "5"}).json()
    assert envelope["status_code"] == 200
    seen = aws.requests[-1]
    assert seen["verdict"] == "ok" and seen["headers"]["X-Amz-Security-Token"] == SESSION
    assert "x-amz-security-token" in seen["headers"]["Authorization"]
    assert Connection.objects.get(link_name="acme_main").credentials_hint == KEY_ID[-4:]


def test_s3_sends_the_payload_hash(admin, _servers, aws_service):
    control = _servers["s3"]
    control.keys[KEY_ID] = SECRET
    aws_service(control, signing_name="s3")
    connect(admin, {"access_key_id": KEY_ID, "secret_access_key": SECRET})
    envelope = invoke(admin, url="/bucket/report.txt", method="PUT", body="quarterly numbers").json()
    assert envelope["status_code"] == 200, envelope
    seen = control.requests[-1]
    assert seen["verdict"] == "ok"
    assert seen["headers"]["X-Amz-Content-Sha256"] == hashlib.sha256(b"quarterly numbers").hexdigest()


def test_callers_cannot_set_the_signing_headers(admin, aws, aws_service):
    aws_service(aws)
    connect(admin, {"access_key_id": KEY_ID, "secret_access_key": SECRET})
    response = invoke(admin, url="/", headers={"X-Amz-Date": "20200101T000000Z"})
    assert response.status_code == 400 and response.json()["error"]["fields"]["headers"]


def test_credentials_are_required_and_the_block_is_checked(admin, aws, aws_service):
    aws_service(aws)
    response = admin.post("/api/v1/connections/", {
        "name": "AWS", "link_name": "acme_main", "service": "aws_api", "credentials": {"access_key_id": KEY_ID},
        "config": {"region": "eu-west-1"},
    }, format="json")
    assert response.status_code == 400 and "credentials.secret_access_key" in response.json()["error"]["fields"]
    bad = {"link_name": "aws_bad", "name": "Bad", "auth_type": "aws_sigv4", "base_url": aws.url, "aws": {"service": "s3", "region": "{nowhere}"}}
    response = admin.post("/api/v1/services/", bad, format="json")
    assert response.status_code == 400 and "aws.region" in response.json()["error"]["fields"]
