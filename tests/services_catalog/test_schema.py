import pytest

from services_catalog.schema import SchemaError, ServiceDefinition, host_matches


def parse(data):
    return ServiceDefinition.from_dict(data, source="t.yaml")


BASE = {"link_name": "acme", "name": "Acme", "auth_type": "api_key", "parameters": [{"key": "k", "display_name": "Key"}], "base_url": "https://api.acme.example/v1"}


def test_allowed_hosts_default_to_base_url_host():
    assert parse(BASE).allowed_hosts == ("api.acme.example",)


def test_allowed_hosts_fall_back_to_sample_url_and_never_to_oauth_urls():
    data = {**BASE, "base_url": None, "sample_url": "https://data.acme.example/me"}
    assert parse(data).allowed_hosts == ("data.acme.example",)
    oauth = {"link_name": "acme", "name": "Acme", "auth_type": "oauth2",
             "oauth2": {"authorize_url": "https://auth.acme.example/a", "token_url": "https://auth.acme.example/t"}}
    with pytest.raises(SchemaError) as err:
        parse(oauth)
    assert err.value.field == "allowed_hosts"


@pytest.mark.parametrize(
    "change, field",
    [
        ({"link_name": "Bad-Name"}, "link_name"),
        ({"auth_type": "magic"}, "auth_type"),
        ({"param_type": "cookie"}, "param_type"),
        ({"parameters": []}, "parameters"),
        ({"base_url": "ftp://x.example"}, "base_url"),
        ({"allowed_hosts": ["bad host"]}, "allowed_hosts[0]"),
        ({"surprise": 1}, "surprise"),
        ({"auth_type": "basic", "parameters": [], "param_type": "query"}, "param_type"),
        ({"verify": {"method": "GET", "path": "relative"}}, "verify.path"),
    ],
)
def test_errors_name_the_field(change, field):
    with pytest.raises(SchemaError) as err:
        parse({**BASE, **change})
    assert err.value.field == field
    assert "t.yaml" in str(err.value)


def test_oauth2_defaults():
    service = parse({
        "link_name": "acme", "name": "Acme", "auth_type": "oauth2", "base_url": "https://api.acme.example",
        "oauth2": {"authorize_url": "https://auth.acme.example/a", "token_url": "https://auth.acme.example/t"},
    })
    o = service.oauth2
    assert (o.refresh_url, o.scope_delimiter, o.pkce, o.token_prefix, o.grant_type) == (
        "https://auth.acme.example/t", " ", True, "Bearer", "authorization_code")


def test_client_credentials_needs_no_authorize_url_but_code_flow_does():
    base = {"link_name": "acme", "name": "Acme", "auth_type": "oauth2", "base_url": "https://api.acme.example"}
    parse({**base, "oauth2": {"grant_type": "client_credentials", "token_url": "https://a.example/t"}})
    with pytest.raises(SchemaError) as err:
        parse({**base, "oauth2": {"token_url": "https://a.example/t"}})
    assert err.value.field == "oauth2.authorize_url"


def test_config_placeholders_are_filled_and_validated():
    service = parse({
        **BASE, "base_url": "https://{sub}.acme.example/api", "allowed_hosts": ["{sub}.acme.example"],
        "config_fields": [{"name": "sub", "display_name": "Subdomain"}],
    })
    assert service.config_errors({"sub": "evil.example/x"}) == {"config.sub": ["Contains characters that are not allowed here."]}
    assert service.config_errors({}) == {"config.sub": ["This field is required."]}
    filled = service.with_config({"sub": "team1"})
    assert filled.base_url == "https://team1.acme.example/api"
    assert filled.allowed_hosts == ("team1.acme.example",)


def test_unknown_placeholder_is_refused():
    with pytest.raises(SchemaError) as err:
        parse({**BASE, "base_url": "https://{nope}.acme.example"})
    assert err.value.field == "base_url"


@pytest.mark.parametrize(
    "host, patterns, expected",
    [
        ("api.acme.example", ["api.acme.example"], True),
        ("API.Acme.Example", ["api.acme.example"], True),
        ("x.api.acme.example", ["*.acme.example"], True),
        ("acme.example", ["*.acme.example"], False),
        ("api.acme.example.evil.test", ["api.acme.example"], False),
        ("evilacme.example", ["*.acme.example"], False),
    ],
)
def test_host_matching(host, patterns, expected):
    assert host_matches(host, patterns) is expected


# -- a URL field (a config field with url_hosts): a whole URL the person copies (Workday's Authorization Endpoint)
URL_FIELD = {"name": "endpoint", "display_name": "Authorization Endpoint", "url_hosts": ["*.acme.example"]}
CODE_FLOW = {"link_name": "acme", "name": "Acme", "auth_type": "oauth2", "base_url": "https://api.acme.example",
             "config_fields": [URL_FIELD, {"name": "tenant"}],
             "oauth2": {"authorize_url": "{endpoint}", "token_url": "https://api.acme.example/{tenant}/token"}}


def test_a_url_field_is_a_whole_authorize_url_on_its_own_hosts():
    service = parse(CODE_FLOW)
    good = {"endpoint": "https://login.acme.example/acme_t1/authorize", "tenant": "acme_t1"}
    assert service.config_errors(good) == {}
    filled = service.with_config(good)
    assert filled.oauth2.authorize_url == good["endpoint"]
    assert filled.oauth2.token_url == "https://api.acme.example/acme_t1/token"
    assert service.config_errors({**good, "tenant": "a/b"}) == {"config.tenant": ["Contains characters that are not allowed here."]}


@pytest.mark.parametrize("value", [
    "http://login.acme.example/authorize",              # a bare host entry is https on 443
    "https://login.acme.example:8443/authorize",         # another port
    "https://acme.example/authorize",                   # "*." is subdomains only
    "https://login.acme.example.evil.test/authorize",
    "https://evil.test@login.acme.example/authorize",   # a user name
    "https://evil.test\\@login.acme.example/authorize",
    "https://login.acme.example/authorize?next=x",      # a query
    "https://login.acme.example/authorize#x",
    "https://login.acme.example/a b",
    "//login.acme.example/authorize",
    "https://login.acme.example/" + "a" * 500,
])
def test_a_url_field_refuses_other_hosts_and_shapes(value):
    assert list(parse(CODE_FLOW).config_errors({"endpoint": value, "tenant": "t"})) == ["config.endpoint"]


@pytest.mark.parametrize("change, field", [
    ({"base_url": "{endpoint}"}, "base_url"),
    ({"sample_url": "https://api.acme.example/{endpoint}"}, "sample_url"),
    ({"allowed_hosts": ["{endpoint}"]}, "allowed_hosts"),
    ({"oauth2": {**CODE_FLOW["oauth2"], "token_url": "{endpoint}/token"}}, "oauth2.token_url"),
    ({"oauth2": {**CODE_FLOW["oauth2"], "authorize_url": "{tenant}"}}, "oauth2.authorize_url"),
    ({"oauth2": {**CODE_FLOW["oauth2"], "revoke_url": "https://api.acme.example/{nope}/revoke"}}, "oauth2.revoke_url"),
    ({"config_fields": [{**URL_FIELD, "choices": ["https://a.acme.example/x"]}, {"name": "tenant"}]}, "config_fields[0].url_hosts"),
    ({"config_fields": [{**URL_FIELD, "pattern": "^https://"}, {"name": "tenant"}]}, "config_fields[0].url_hosts"),
    ({"config_fields": [{**URL_FIELD, "url_hosts": ["{tenant}.acme.example"]}, {"name": "tenant"}]}, "config_fields[0].url_hosts[0]"),
    ({"config_fields": [{**URL_FIELD, "url_hosts": ["bad host"]}, {"name": "tenant"}]}, "config_fields[0].url_hosts[0]"),
])
def test_a_url_field_may_only_be_a_whole_url_of_the_auth_block(change, field):
    with pytest.raises(SchemaError) as err:
        parse({**CODE_FLOW, **change})
    assert field in err.value.errors, err.value.errors


def test_the_shipped_catalog_names_url_field_hosts_over_https_only():
    data = {**CODE_FLOW, "config_fields": [{**URL_FIELD, "url_hosts": ["http://login.acme.example:8080"]}, {"name": "tenant"}]}
    with pytest.raises(SchemaError) as err:
        parse(data)
    assert "config_fields[0].url_hosts[0]" in err.value.errors
    local = ServiceDefinition.from_dict(data, source="extra.yaml", https_only=False)
    assert local.config_errors({"endpoint": "http://login.acme.example:8080/authorize", "tenant": "t"}) == {}
