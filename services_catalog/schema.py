"""The shape of a service: frozen dataclasses built from plain dicts.

Preconfigured services (YAML files) and custom services (stored per organisation) go
through the same ``ServiceDefinition.from_dict`` so they obey the same rules. Every error
names the source (file or "custom service") and the field, so a bad catalog file fails
start-up with a message an operator can act on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Mapping
from urllib.parse import urlsplit

LINK_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{1,49}$")
PLACEHOLDER_RE = re.compile(r"\{([a-z][a-z0-9_]*)\}")
# A config value is substituted into URLs and hosts, so it may only be a host label-ish
# token: no "/", "@", ":" or "?" that could move a URL to another host.
DEFAULT_CONFIG_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,61}[A-Za-z0-9])?$"
# An allowed-host entry: an optional scheme, the host pattern, an optional port.
HOST_ENTRY_RE = re.compile(r"^(?:(?P<scheme>https?)://)?(?P<host>[^:/]*)(?::(?P<port>[0-9]{1,5}))?$")
DEFAULT_PORTS = {"http": 80, "https": 443}
HOST_RE = re.compile(r"^(\*\.)?[a-z0-9{}_]([a-z0-9{}_.-]*[a-z0-9{}_])?$")

AUTH_TYPES = ("api_key", "basic", "oauth1", "oauth2")
PARAM_TYPES = ("header", "query", "form")
GRANT_TYPES = ("authorization_code", "client_credentials")
SIGNATURE_METHODS = ("HMAC-SHA1", "HMAC-SHA256", "PLAINTEXT")
TOKEN_AUTH_METHODS = ("client_secret_post", "client_secret_basic")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


class SchemaError(ValueError):
    """A service definition is invalid; ``field`` names where."""

    def __init__(self, source: str, field_name: str, message: str):
        self.source = source
        self.field = field_name
        self.message = message
        super().__init__(f"{source}: {field_name}: {message}")


@dataclass(frozen=True)
class Parameter:
    key: str
    display_name: str


@dataclass(frozen=True)
class Scope:
    name: str
    display_name: str


@dataclass(frozen=True)
class ConfigField:
    name: str
    display_name: str
    choices: tuple[str, ...] = ()
    default: str | None = None
    pattern: str = DEFAULT_CONFIG_PATTERN

    def validate(self, value: str) -> str | None:
        """Return an error message for ``value``, or None when it is acceptable."""
        if not isinstance(value, str) or not value:
            return "This field is required."
        if self.choices and value not in self.choices:
            return f"Must be one of: {', '.join(self.choices)}."
        if not re.fullmatch(self.pattern, value) or not re.fullmatch(DEFAULT_CONFIG_PATTERN, value):
            return "Contains characters that are not allowed here."
        return None


@dataclass(frozen=True)
class OAuth2Config:
    authorize_url: str | None
    token_url: str
    refresh_url: str
    revoke_url: str | None = None
    grant_type: str = "authorization_code"
    scope_delimiter: str = " "
    pkce: bool = True
    token_prefix: str = "Bearer"
    token_endpoint_auth_method: str = "client_secret_post"
    authorize_params: Mapping[str, str] = field(default_factory=dict)
    client_id: str | None = None
    client_secret: str | None = None


@dataclass(frozen=True)
class OAuth1Config:
    request_token_url: str
    authorize_url: str
    access_token_url: str
    signature_method: str = "HMAC-SHA1"
    authorize_params: Mapping[str, str] = field(default_factory=dict)
    consumer_key: str | None = None
    consumer_secret: str | None = None


@dataclass(frozen=True)
class Verify:
    method: str
    path: str


@dataclass(frozen=True)
class ServiceDefinition:
    link_name: str
    name: str
    auth_type: str
    param_type: str
    allowed_hosts: tuple[str, ...]
    kind: str = "preconfigured"
    parameters: tuple[Parameter, ...] = ()
    base_url: str | None = None
    scopes: tuple[Scope, ...] = ()
    default_scopes: tuple[str, ...] = ()
    oauth2: OAuth2Config | None = None
    oauth1: OAuth1Config | None = None
    config_fields: tuple[ConfigField, ...] = ()
    docs_url: str | None = None
    sample_url: str | None = None
    verify: Verify | None = None
    description: str = ""
    default_headers: Mapping[str, str] = field(default_factory=dict)
    source: str = ""

    @property
    def is_oauth(self) -> bool:
        return self.auth_type in ("oauth1", "oauth2")

    @property
    def scope_names(self) -> frozenset[str]:
        return frozenset(s.name for s in self.scopes)

    def credential_fields(self) -> tuple[Parameter, ...]:
        """Return the fields a connection must supply for this service (api_key/basic)."""
        if self.auth_type == "api_key":
            return self.parameters
        if self.auth_type == "basic":
            return (Parameter("username", "Username"), Parameter("password", "Password"))
        return ()

    def config_errors(self, config: Mapping[str, Any]) -> dict[str, list[str]]:
        """Return ``{config.<name>: [message]}`` for missing, bad or unknown config values."""
        errors: dict[str, list[str]] = {}
        names = {f.name for f in self.config_fields}
        for key in config:
            if key not in names:
                errors[f"config.{key}"] = ["Unknown config field."]
        for f in self.config_fields:
            value = config.get(f.name, f.default)
            message = f.validate(value) if value is not None else "This field is required."
            if message:
                errors[f"config.{f.name}"] = [message]
        return errors

    def with_config(self, config: Mapping[str, Any]) -> "ServiceDefinition":
        """Return a copy with ``{placeholders}`` filled from ``config`` (validated values only)."""
        if not self.config_fields:
            return self
        values = {f.name: config.get(f.name) or f.default for f in self.config_fields}

        def fill(text: str | None) -> str | None:
            if text is None:
                return None
            return PLACEHOLDER_RE.sub(lambda m: str(values.get(m.group(1)) or m.group(0)), text)

        oauth2 = self.oauth2 and replace(
            self.oauth2,
            authorize_url=fill(self.oauth2.authorize_url), token_url=fill(self.oauth2.token_url),
            refresh_url=fill(self.oauth2.refresh_url), revoke_url=fill(self.oauth2.revoke_url),
        )
        oauth1 = self.oauth1 and replace(
            self.oauth1,
            request_token_url=fill(self.oauth1.request_token_url), authorize_url=fill(self.oauth1.authorize_url),
            access_token_url=fill(self.oauth1.access_token_url),
        )
        return replace(
            self, base_url=fill(self.base_url), sample_url=fill(self.sample_url),
            allowed_hosts=tuple(fill(h) for h in self.allowed_hosts), oauth2=oauth2, oauth1=oauth1,
            verify=self.verify and replace(self.verify, path=fill(self.verify.path)),
        )

    @classmethod
    def from_dict(cls, data: Any, *, source: str, kind: str = "preconfigured") -> "ServiceDefinition":
        return _Parser(source).service(data, kind)

    def to_dict(self, *, include_secrets: bool = False) -> dict[str, Any]:
        """Return the definition as plain data (the custom-service storage shape)."""
        out: dict[str, Any] = {
            "link_name": self.link_name,
            "name": self.name,
            "auth_type": self.auth_type,
            "param_type": self.param_type,
            "parameters": [{"key": p.key, "display_name": p.display_name} for p in self.parameters],
            "base_url": self.base_url,
            "allowed_hosts": list(self.allowed_hosts),
            "scopes": [{"name": s.name, "display_name": s.display_name} for s in self.scopes],
            "default_scopes": list(self.default_scopes),
            "config_fields": [
                {
                    "name": f.name,
                    "display_name": f.display_name,
                    "choices": list(f.choices),
                    "default": f.default,
                }
                for f in self.config_fields
            ],
            "docs_url": self.docs_url,
            "sample_url": self.sample_url,
            "verify": {"method": self.verify.method, "path": self.verify.path} if self.verify else None,
            "description": self.description,
            "default_headers": dict(self.default_headers),
            "oauth2": None,
            "oauth1": None,
        }
        if self.oauth2:
            o = self.oauth2
            out["oauth2"] = {
                "grant_type": o.grant_type,
                "authorize_url": o.authorize_url,
                "token_url": o.token_url,
                "refresh_url": o.refresh_url,
                "revoke_url": o.revoke_url,
                "scope_delimiter": o.scope_delimiter,
                "pkce": o.pkce,
                "token_prefix": o.token_prefix,
                "token_endpoint_auth_method": o.token_endpoint_auth_method,
                "authorize_params": dict(o.authorize_params),
                "client_id": o.client_id,
            }
            if include_secrets:
                out["oauth2"]["client_secret"] = o.client_secret
        if self.oauth1:
            o1 = self.oauth1
            out["oauth1"] = {
                "request_token_url": o1.request_token_url,
                "authorize_url": o1.authorize_url,
                "access_token_url": o1.access_token_url,
                "signature_method": o1.signature_method,
                "authorize_params": dict(o1.authorize_params),
                "consumer_key": o1.consumer_key,
            }
            if include_secrets:
                out["oauth1"]["consumer_secret"] = o1.consumer_secret
        return out


def host_matches(host: str, patterns: tuple[str, ...] | list[str]) -> bool:
    """Return True when ``host`` is allowed by one of ``patterns`` (``*.`` = any subdomain)."""
    host = host.lower().rstrip(".")
    for pattern in patterns:
        pattern = pattern.lower()
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False


class _Parser:
    """Turn a dict into a ServiceDefinition, raising SchemaError that names the field."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, field_name: str, message: str) -> SchemaError:
        return SchemaError(self.source, field_name, message)

    # -- primitives ------------------------------------------------------------------
    def string(self, data: Mapping, key: str, *, required: bool = True, prefix: str = "", max_len: int = 2000) -> str | None:
        name = prefix + key
        value = data.get(key)
        if value is None or value == "":
            if required:
                raise self.fail(name, "This field is required.")
            return None
        if not isinstance(value, str):
            raise self.fail(name, "Must be a string.")
        if len(value) > max_len:
            raise self.fail(name, f"At most {max_len} characters.")
        return value

    def choice(self, data: Mapping, key: str, choices: tuple[str, ...], default: str | None, prefix: str = "") -> str:
        value = data.get(key, default)
        if value is None:
            raise self.fail(prefix + key, "This field is required.")
        if value not in choices:
            raise self.fail(prefix + key, f"Must be one of: {', '.join(choices)}.")
        return value

    def url(self, data: Mapping, key: str, *, required: bool = True, prefix: str = "") -> str | None:
        value = self.string(data, key, required=required, prefix=prefix)
        if value is None:
            return None
        parts = urlsplit(PLACEHOLDER_RE.sub("x", value))
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise self.fail(prefix + key, "Must be an absolute http(s) URL.")
        if parts.username or parts.password:
            raise self.fail(prefix + key, "Must not contain a user name or password.")
        return value

    def boolean(self, data: Mapping, key: str, default: bool, prefix: str = "") -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(prefix + key, "Must be true or false.")
        return value

    def string_map(self, data: Mapping, key: str, prefix: str = "") -> dict[str, str]:
        value = data.get(key) or {}
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) and k and not any(c in k + v for c in "\r\n\0")
            for k, v in value.items()
        ):
            raise self.fail(prefix + key, "Must be a mapping of strings to one-line strings.")
        return dict(value)

    def list_of_dicts(self, data: Mapping, key: str) -> list[Mapping]:
        value = data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise self.fail(key, "Must be a list of objects.")
        return value

    # -- parts -----------------------------------------------------------------------
    def service(self, data: Any, kind: str) -> ServiceDefinition:
        if not isinstance(data, Mapping):
            raise self.fail("(root)", "Must be a mapping of fields.")
        known = {
            "link_name", "name", "auth_type", "param_type", "parameters", "base_url", "allowed_hosts",
            "scopes", "default_scopes", "oauth2", "oauth1", "config_fields", "docs_url", "sample_url",
            "verify", "description", "kind", "default_headers",
        }
        for key in data:
            if key not in known:
                raise self.fail(str(key), "Unknown field.")

        link_name = self.string(data, "link_name")
        if not LINK_NAME_RE.match(link_name):
            raise self.fail("link_name", "Must match ^[a-z][a-z0-9_]{1,49}$ (lower case letters, digits, _).")
        name = self.string(data, "name", max_len=100).strip()
        auth_type = self.choice(data, "auth_type", AUTH_TYPES, None)
        param_type = self.choice(data, "param_type", PARAM_TYPES, "header")
        config_fields = self.config_fields(data)
        config_names = {f.name for f in config_fields}

        parameters = self.parameters(data, auth_type)
        if auth_type == "basic" and param_type != "header":
            raise self.fail("param_type", "Basic authentication travels in a header; use param_type: header.")

        base_url = self.url(data, "base_url", required=False)
        sample_url = self.url(data, "sample_url", required=False)
        docs_url = self.url(data, "docs_url", required=False)
        scopes = self.scopes(data)
        default_scopes = tuple(data.get("default_scopes") or ())
        for s in default_scopes:
            if s not in {sc.name for sc in scopes}:
                raise self.fail("default_scopes", f"Unknown scope {s!r}.")

        oauth2 = self.oauth2(data.get("oauth2")) if auth_type == "oauth2" else None
        oauth1 = self.oauth1(data.get("oauth1")) if auth_type == "oauth1" else None
        if auth_type != "oauth2" and data.get("oauth2"):
            raise self.fail("oauth2", "Only for auth_type oauth2.")
        if auth_type != "oauth1" and data.get("oauth1"):
            raise self.fail("oauth1", "Only for auth_type oauth1.")

        for key, value in (("base_url", base_url), ("sample_url", sample_url)):
            for placeholder in PLACEHOLDER_RE.findall(value or ""):
                if placeholder not in config_names:
                    raise self.fail(key, f"Placeholder {{{placeholder}}} is not a config field.")
        allowed_hosts = self.allowed_hosts(data, base_url, sample_url, kind)
        if kind != "custom":
            for key, value in (("base_url", base_url), ("sample_url", sample_url), *_oauth_urls(oauth2, oauth1)):
                if value and not value.startswith("https://"):
                    raise self.fail(key, "Preconfigured services are reached over https only.")
        for host in allowed_hosts:
            for placeholder in PLACEHOLDER_RE.findall(host):
                if placeholder not in config_names:
                    raise self.fail("allowed_hosts", f"Placeholder {{{placeholder}}} is not a config field.")

        verify = None
        if data.get("verify") is not None:
            v = data["verify"]
            if not isinstance(v, Mapping):
                raise self.fail("verify", "Must be an object with method and path.")
            method = self.choice(v, "method", HTTP_METHODS, "GET", prefix="verify.")
            path = self.string(v, "path", prefix="verify.")
            if not (path.startswith("/") or path.startswith("https://")):
                raise self.fail("verify.path", "Must be a path starting with / or an https URL.")
            verify = Verify(method, path)

        description = data.get("description") or ""
        if not isinstance(description, str):
            raise self.fail("description", "Must be a string.")
        default_headers = self.string_map(data, "default_headers")
        for key in default_headers:
            if key.lower() in ("authorization", "host", "cookie", "content-length", "transfer-encoding"):
                raise self.fail("default_headers", f"{key} cannot be a default header.")

        return ServiceDefinition(
            link_name=link_name, name=name, auth_type=auth_type, param_type=param_type,
            allowed_hosts=allowed_hosts, kind=kind, parameters=parameters, base_url=base_url,
            scopes=scopes, default_scopes=default_scopes, oauth2=oauth2, oauth1=oauth1,
            config_fields=config_fields, docs_url=docs_url, sample_url=sample_url, verify=verify,
            description=description, default_headers=default_headers, source=self.source,
        )

    def parameters(self, data: Mapping, auth_type: str) -> tuple[Parameter, ...]:
        raw = self.list_of_dicts(data, "parameters")
        params = []
        seen = set()
        for i, item in enumerate(raw):
            key = self.string(item, "key", prefix=f"parameters[{i}].", max_len=100)
            if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,100}", key):
                raise self.fail(f"parameters[{i}].key", "Use letters, digits, '_', '-' or '.'.")
            if key.lower() in seen:
                raise self.fail(f"parameters[{i}].key", f"Duplicate key {key!r}.")
            seen.add(key.lower())
            display = self.string(item, "display_name", required=False, prefix=f"parameters[{i}].", max_len=100) or key
            params.append(Parameter(key, display))
        if auth_type == "api_key" and not params:
            raise self.fail("parameters", "An API key service needs at least one parameter.")
        if auth_type != "api_key" and params:
            raise self.fail("parameters", "Only API key services take parameters.")
        return tuple(params)

    def scopes(self, data: Mapping) -> tuple[Scope, ...]:
        out = []
        seen = set()
        for i, item in enumerate(self.list_of_dicts(data, "scopes")):
            scope_name = self.string(item, "name", prefix=f"scopes[{i}].", max_len=300)
            if any(c.isspace() for c in scope_name):
                raise self.fail(f"scopes[{i}].name", "Must not contain white space.")
            if scope_name in seen:
                raise self.fail(f"scopes[{i}].name", f"Duplicate scope {scope_name!r}.")
            seen.add(scope_name)
            display = self.string(item, "display_name", required=False, prefix=f"scopes[{i}].", max_len=200) or scope_name
            out.append(Scope(scope_name, display))
        return tuple(out)

    def config_fields(self, data: Mapping) -> tuple[ConfigField, ...]:
        out = []
        for i, item in enumerate(self.list_of_dicts(data, "config_fields")):
            prefix = f"config_fields[{i}]."
            name = self.string(item, "name", prefix=prefix)
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise self.fail(prefix + "name", "Use lower case letters, digits and _.")
            display = self.string(item, "display_name", required=False, prefix=prefix) or name
            choices = item.get("choices") or []
            if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
                raise self.fail(prefix + "choices", "Must be a list of strings.")
            pattern = item.get("pattern") or DEFAULT_CONFIG_PATTERN
            try:
                re.compile(pattern)
            except (re.error, TypeError):
                raise self.fail(prefix + "pattern", "Not a valid regular expression.") from None
            cf = ConfigField(name, display, tuple(choices), item.get("default"), pattern)
            for c in choices:
                if cf.validate(c):
                    raise self.fail(prefix + "choices", f"Choice {c!r} is not allowed by the pattern.")
            if cf.default is not None and cf.validate(cf.default):
                raise self.fail(prefix + "default", "Default is not one of the allowed values.")
            out.append(cf)
        return tuple(out)

    def allowed_hosts(self, data: Mapping, base_url: str | None, sample_url: str | None, kind: str = "custom") -> tuple[str, ...]:
        raw = data.get("allowed_hosts")
        if raw in (None, [], ""):
            source_url = base_url or sample_url
            if not source_url:
                raise self.fail("allowed_hosts", "Name at least one allowed host (or give a base_url or sample_url).")
            raw = [_origin_entry(source_url)]
        if not isinstance(raw, list) or not all(isinstance(h, str) for h in raw):
            raise self.fail("allowed_hosts", "Must be a list of host names.")
        hosts = []
        for i, host in enumerate(raw):
            # An entry is a host (https on 443), or "scheme://host[:port]" for a service that
            # is reached another way (plain http on a private network, another port).
            match = HOST_ENTRY_RE.match(host.strip().lower())
            h = match.group("host") if match else ""
            if not HOST_RE.match(h) or ".." in h or "*" in h[1:]:
                raise self.fail(f"allowed_hosts[{i}]", f"{host!r} is not a host name (a leading '*.' allows subdomains).")
            scheme, port = match.group("scheme") or "https", int(match.group("port") or DEFAULT_PORTS[match.group("scheme") or "https"])
            if not 0 < port < 65536:
                raise self.fail(f"allowed_hosts[{i}]", f"{host!r} has no valid port.")
            if scheme == "http" and kind != "custom":
                raise self.fail(f"allowed_hosts[{i}]", "Preconfigured services are reached over https only.")
            hosts.append(h if (scheme, port) == ("https", 443) else f"{scheme}://{h}:{port}")
        return tuple(dict.fromkeys(hosts))

    def oauth2(self, raw: Any) -> OAuth2Config:
        if not isinstance(raw, Mapping):
            raise self.fail("oauth2", "Required for auth_type oauth2.")
        p = "oauth2."
        grant_type = self.choice(raw, "grant_type", GRANT_TYPES, "authorization_code", prefix=p)
        authorize_url = self.url(raw, "authorize_url", required=grant_type == "authorization_code", prefix=p)
        token_url = self.url(raw, "token_url", prefix=p)
        refresh_url = self.url(raw, "refresh_url", required=False, prefix=p) or token_url
        revoke_url = self.url(raw, "revoke_url", required=False, prefix=p)
        delimiter = raw.get("scope_delimiter", " ")
        if delimiter not in (" ", ",", "+", ";"):
            raise self.fail(p + "scope_delimiter", "Must be one of ' ', ',', '+', ';'.")
        params = self.string_map(raw, "authorize_params", prefix=p)
        reserved = {"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"}
        if reserved & set(params):
            raise self.fail(p + "authorize_params", f"May not set {', '.join(sorted(reserved & set(params)))}.")
        prefix = raw.get("token_prefix", "Bearer")
        if not isinstance(prefix, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]{0,39}", prefix):
            raise self.fail(p + "token_prefix", "Must be a single word such as Bearer.")
        return OAuth2Config(
            authorize_url=authorize_url, token_url=token_url, refresh_url=refresh_url, revoke_url=revoke_url,
            grant_type=grant_type, scope_delimiter=delimiter, pkce=self.boolean(raw, "pkce", True, prefix=p),
            token_prefix=prefix,
            token_endpoint_auth_method=self.choice(raw, "token_endpoint_auth_method", TOKEN_AUTH_METHODS, "client_secret_post", prefix=p),
            authorize_params=dict(params),
            client_id=self.string(raw, "client_id", required=False, prefix=p, max_len=500),
            client_secret=self.string(raw, "client_secret", required=False, prefix=p, max_len=2000),
        )

    def oauth1(self, raw: Any) -> OAuth1Config:
        if not isinstance(raw, Mapping):
            raise self.fail("oauth1", "Required for auth_type oauth1.")
        p = "oauth1."
        return OAuth1Config(
            request_token_url=self.url(raw, "request_token_url", prefix=p),
            authorize_url=self.url(raw, "authorize_url", prefix=p),
            access_token_url=self.url(raw, "access_token_url", prefix=p),
            signature_method=self.choice(raw, "signature_method", SIGNATURE_METHODS, "HMAC-SHA1", prefix=p),
            authorize_params=self.string_map(raw, "authorize_params", prefix=p),
            consumer_key=self.string(raw, "consumer_key", required=False, prefix=p, max_len=500),
            consumer_secret=self.string(raw, "consumer_secret", required=False, prefix=p, max_len=2000),
        )


def _origin_entry(url: str) -> str:
    """The allowed-host entry for an already validated URL: its host, with the scheme and
    port written out unless they are https on 443 (``{placeholders}`` kept intact)."""
    scheme, rest = url.split("://", 1)
    scheme = scheme.lower()
    host, _, port = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].lower().partition(":")
    if scheme == "https" and port in ("", "443"):
        return host
    return f"{scheme}://{host}:{port or DEFAULT_PORTS[scheme]}"


def _oauth_urls(oauth2, oauth1) -> list[tuple[str, str | None]]:
    urls = []
    if oauth2:
        urls += [(f"oauth2.{k}", getattr(oauth2, k)) for k in ("authorize_url", "token_url", "refresh_url", "revoke_url")]
    if oauth1:
        urls += [(f"oauth1.{k}", getattr(oauth1, k)) for k in ("request_token_url", "authorize_url", "access_token_url")]
    return urls
