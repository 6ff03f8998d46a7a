"""Basic authentication with extra secret parameters (UKG Pro: the customer API key header
beside the web service account's Basic header), through the REST API and invoke."""

from __future__ import annotations

import pytest

from connections_app.models import Connection
from tests.factories import invoke, make_connection

pytestmark = pytest.mark.django_db

KEY = "customer-key-canary-41d9c0"
PASSWORD = "service-account-pass-77e1"
PARAMS = [{"key": "US-CUSTOMER-API-KEY", "display_name": "Customer API key"}]


def test_the_upstream_receives_the_basic_header_and_the_key_header(admin, loopback_service, httpbin_server):
    loopback_service(admin, "ukg", auth_type="basic", base_url=httpbin_server.url, parameters=PARAMS)
    make_connection(admin, "ukg", credentials={"username": "svc", "password": PASSWORD, "US-CUSTOMER-API-KEY": KEY})
    assert Connection.objects.get().credentials["US-CUSTOMER-API-KEY"] == KEY  # stored (encrypted) with the password
    assert invoke(admin, url="/basic-auth/svc/service-account-pass-77e1").json()["body"] == {"authenticated": True, "user": "svc"}
    answer = invoke(admin, url="/headers")
    # httpbin echoes what it received; the envelope scrubs the connection's own secrets.
    headers = answer.json()["body"]["headers"]
    assert headers["Us-Customer-Api-Key"] == "[redacted]" and headers["Authorization"] == "Basic [redacted]"
    assert KEY not in answer.content.decode() and PASSWORD not in answer.content.decode()
    shown = admin.get("/api/v1/connections/acme_main/").content.decode()
    assert KEY not in shown and PASSWORD not in shown


def test_query_placement_and_a_value_template(admin, loopback_service, httpbin_server):
    params = [{"key": "customer_key", "display_name": "Customer key", "value_template": "ck-{value}"}]
    loopback_service(admin, "ukg", auth_type="basic", param_type="query", base_url=httpbin_server.url, parameters=params)
    make_connection(admin, "ukg", credentials={"username": "svc", "password": PASSWORD, "customer_key": KEY})
    body = invoke(admin, url="/get").json()["body"]
    assert body["args"] == {"customer_key": "ck-[redacted]"}  # ck-<key> travelled in the query, and is scrubbed
    assert body["headers"]["Authorization"] == "Basic [redacted]"
    assert body["url"].endswith("/get?customer_key=ck-[redacted]")


def test_the_api_refuses_what_collides_and_missing_values(admin):
    base = {"link_name": "ukg", "name": "UKG", "auth_type": "basic", "base_url": "https://svc.example"}
    for key in ("password", "Authorization"):
        response = admin.post("/api/v1/services/", {**base, "parameters": [{"key": key}]}, format="json")
        assert response.status_code == 400 and "parameters[0].key" in response.json()["error"]["fields"], response.content
    form = admin.post("/api/v1/services/", {**base, "param_type": "form", "parameters": PARAMS}, format="json")
    assert form.status_code == 400 and "param_type" in form.json()["error"]["fields"]
    bare_query = admin.post("/api/v1/services/", {**base, "param_type": "query"}, format="json")
    assert bare_query.status_code == 400 and "param_type" in bare_query.json()["error"]["fields"]
    assert admin.post("/api/v1/services/", {**base, "parameters": PARAMS}, format="json").status_code == 201
    missing = admin.post("/api/v1/connections/", {"name": "U", "link_name": "u_main", "service": "ukg",
                                                  "credentials": {"username": "svc", "password": PASSWORD}}, format="json")
    assert missing.status_code == 400 and "credentials.US-CUSTOMER-API-KEY" in missing.json()["error"]["fields"]
    # The caller may not set the header the connection injects.
    make_connection(admin, "ukg", credentials={"username": "svc", "password": PASSWORD, "US-CUSTOMER-API-KEY": KEY})
    clash = invoke(admin, url="https://svc.example/x", headers={"us-customer-api-key": "mine"})
    assert clash.status_code == 400, clash.content
