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
