"""The building blocks of a service's shape, shared by the service schema and the auth types.

Each piece is declared once, as a pydantic type or model: its checks, its default and its
OpenAPI/JSON schema all come from that declaration. Two markers travel in a field's
metadata so that code can act on a whole definition without listing fields by name:
``Templated`` (the value may hold ``{placeholders}``, filled per connection) and ``Secret``
(write-only: never dumped, never shown).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal, Mapping

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

LINK_NAME_PATTERN = r"^[a-z][a-z0-9_]{1,49}$"
LINK_NAME_RE = re.compile(LINK_NAME_PATTERN)
PLACEHOLDER_RE = re.compile(r"\{([a-z][a-z0-9_]*)\}")
# A config value is substituted into URLs and hosts, so it may only be a host label-ish
# token: no "/", "@", ":" or "?" that could move a URL to another host ("_" inside: Workday's
# tenant names, acme_dpt1).
DEFAULT_CONFIG_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$"
HOST_RE = re.compile(r"^(\*\.)?[a-z0-9{}_]([a-z0-9{}_.-]*[a-z0-9{}_])?$")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
FORBIDDEN_DEFAULT_HEADERS = ("authorization", "host", "cookie", "content-length", "transfer-encoding")


class FieldError(ValueError):
    """A rule that spans fields failed; ``field`` names where (relative to the model checked)."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(message)


class Templated:
    """Marker: the string may contain ``{placeholders}`` filled from a connection's config."""


class Secret:
    """Marker: a write-only value (a client secret): never dumped, never shown."""


class ChoiceLabels:
    """Marker: the words a page shows for some values of a ``Literal`` (the API and catalog
    files take the values themselves)."""

    def __init__(self, **labels: str):
        self.labels = labels


TEMPLATED = Templated()
SECRET = Secret()


class Published:
    """Marker: publish ``pattern`` in the field's JSON schema (its validator runs the same one)."""

    def __init__(self, pattern: str, format: str | None = None):
        self.pattern = pattern
        self.format = format

    def __get_pydantic_json_schema__(self, core_schema, handler):
        schema = handler(core_schema)
        schema["pattern"] = self.pattern
        if self.format:
            schema["format"] = self.format
        return schema


# What a URL field accepts, as one regular expression: the validator runs it and the OpenAPI
# schema publishes it, so a client (or a fuzzer) knows exactly what the server takes. An http(s)
# origin whose host is ASCII (letters, digits, "-._~", "%" escapes, RFC 3986's sub-delimiters,
# {placeholders}: IDNs as punycode) with an optional port, then a path, query or fragment without
# white space or control characters. No user name or password: "@" cannot be part of the host.
# Instead of the origin, a URL may start with a placeholder for a whole origin kept from the
# provider ({instance_url}/services/data); the service checks that name is such a value.
_PLACEHOLDER = "[{][a-z][a-z0-9_]*[}]"  # braces as classes: not every JSON Schema tool reads "\\}"
_HOST = rf"(?:[A-Za-z0-9._~%!$&'()*+,;=-]|{_PLACEHOLDER})+"
_REST = r"(?:[/?#][^\s\x00-\x1f\x7f]*)?"
URL_PATTERN = rf"^(?:https?://{_HOST}(?::[0-9]{{1,5}})?|{_PLACEHOLDER}){_REST}$"
URL_RE = re.compile(URL_PATTERN)


# A URL may hold {placeholders}: an RFC 6570 URI template, not an RFC 3986 "uri" (no braces).
URL_SCHEMA = Published(URL_PATTERN, format="uri-template")


def _check_url(value: str) -> str:
    if URL_RE.fullmatch(value):
        return value
    authority = value.split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if value.startswith(("http://", "https://")) and "@" in authority:
        raise ValueError("Must not contain a user name or password.")
    raise ValueError("Must be an absolute http(s) URL.")


_TEXT = r"[^\r\n\x00]"  # a character of one line
ONE_LINE_PATTERN = rf"^{_TEXT}*$"


def _one_line(value: str) -> str:
    if not re.fullmatch(ONE_LINE_PATTERN, value):
        raise ValueError("Must be one line.")
    return value


ONE_LINE = Published(ONE_LINE_PATTERN)
Url = Annotated[str, StringConstraints(min_length=1, max_length=2000), AfterValidator(_check_url), URL_SCHEMA, TEMPLATED]
OneLine = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_one_line), ONE_LINE]
ClientId = Annotated[str, StringConstraints(min_length=1, max_length=500), AfterValidator(_one_line), ONE_LINE]
ClientSecret = Annotated[str, StringConstraints(min_length=1, max_length=2000), AfterValidator(_one_line), ONE_LINE, SECRET]
# Declare a client secret field as ``Annotated[ClientSecret | None, SECRET_FIELD] = None``:
# write-only (never dumped, so never stored in plain or answered) and kept out of repr().
SECRET_FIELD = Field(exclude=True, repr=False, json_schema_extra={"writeOnly": True})
StringMap = dict[Annotated[str, StringConstraints(min_length=1), AfterValidator(_one_line)], OneLine]


class Shape(BaseModel):
    """Base of every piece: immutable, unknown fields refused, blank strings count as absent."""

    # Output schemas list every field as required: the API always sends them all.
    model_config = ConfigDict(
        frozen=True, extra="forbid", hide_input_in_errors=True, json_schema_serialization_defaults_required=True
    )

    @model_validator(mode="before")
    @classmethod
    def _blank_is_absent(cls, data: Any) -> Any:
        # YAML and forms say "not set" with an empty string or null; both mean the default.
        if isinstance(data, Mapping):
            return {k: v for k, v in data.items() if v is not None and v != ""}
        return data


# A template is one line whose only braces are its placeholders: the user's value exactly once,
# or the access token (at least once) and its prefix. (Written with the placeholder first or
# after text, an alternation: schemathesis rewrites a simpler pattern into one it cannot read.)
_PLAIN = r"[^\r\n\x00{}]"
VALUE_TEMPLATE_PATTERN = rf"^(?:[{{]value[}}]|{_PLAIN}+[{{]value[}}]){_PLAIN}*$"
_TOKEN_OR_PREFIX = rf"(?:{_PLAIN}|[{{]token_prefix[}}])"
TOKEN_TEMPLATE_PATTERN = (
    rf"^(?:[{{]access_token[}}]|{_TOKEN_OR_PREFIX}+[{{]access_token[}}])(?:{_TOKEN_OR_PREFIX}|[{{]access_token[}}])*$"
)


def _value_template(value: str) -> str:
    _one_line(value)
    if not re.fullmatch(VALUE_TEMPLATE_PATTERN, value):
        raise ValueError("Must contain {value} exactly once and no other placeholder.")
    return value


def _token_template(value: str) -> str:
    _one_line(value)
    if not re.fullmatch(TOKEN_TEMPLATE_PATTERN, value):
        raise ValueError("Must contain {access_token}; {token_prefix} is the only other placeholder.")
    return value


# What travels: the user's bare value put into a template ("Bearer {value}").
ValueTemplate = Annotated[
    str, StringConstraints(min_length=7, max_length=200), AfterValidator(_value_template), Published(VALUE_TEMPLATE_PATTERN)
]
TokenTemplate = Annotated[
    str, StringConstraints(min_length=14, max_length=200), AfterValidator(_token_template), Published(TOKEN_TEMPLATE_PATTERN)
]


def fill_value(template: str, value: str) -> str:
    """Put ``value`` into a value template (a plain replace: the value is never parsed)."""
    return template.replace("{value}", value)


class _Named(Shape):
    """A piece with a ``display_name`` that defaults to its identifying field."""

    _named_by: ClassVar[str]

    @model_validator(mode="after")
    def _display_defaults(self) -> "_Named":
        if not self.display_name:
            object.__setattr__(self, "display_name", getattr(self, self._named_by))
        return self


class Parameter(_Named):
    """A credential a connection gives (API key services), and where it travels."""

    _named_by: ClassVar[str] = "key"
    key: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{1,100}$", description="Header, query or form name it travels under.")]
    display_name: Annotated[str, StringConstraints(max_length=100)] = ""
    value_template: Annotated[
        ValueTemplate, Field(description="What travels: the value the user enters, put in place of {value}.")
    ] = "{value}"


class CredentialField(Parameter):
    """A value a connection gives that an auth type asks for itself (not a service parameter):
    it may be optional, or span lines (a PEM key, a JSON key file)."""

    required: bool = True
    multiline: bool = False


class Scope(_Named):
    _named_by: ClassVar[str] = "name"
    name: Annotated[str, StringConstraints(min_length=1, max_length=300, pattern=r"^\S+$")]
    display_name: Annotated[str, StringConstraints(max_length=200)] = ""
    param: Annotated[
        str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$", description="Authorize parameter it is asked under (Slack: user_scope).")
    ] = "scope"


VERIFY_PATH_PATTERN = "^(?:/|https://)"


def _path_or_https(value: str) -> str:
    if not re.match(VERIFY_PATH_PATTERN, value):
        raise ValueError("Must be a path starting with / or an https URL.")
    return value


class Verify(Shape):
    """A cheap request that proves credentials work."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] = "GET"
    path: Annotated[str, StringConstraints(min_length=1, max_length=2000), AfterValidator(_path_or_https), Published(VERIFY_PATH_PATTERN), TEMPLATED]


# An allowed-host entry: an optional scheme, the host pattern, an optional port. A bare
# host means https on 443; "http://host[:port]" or "https://host:port" say otherwise.
HOST_ENTRY_RE = re.compile(r"^(?:(?P<scheme>https?)://)?(?P<host>[^:/]*)(?::(?P<port>[0-9]{1,5}))?$")
DEFAULT_PORTS = {"http": 80, "https": 443}


# An allowed-host entry as one regular expression, which the validator runs first and the
# OpenAPI schema publishes: an optional http(s) scheme, a host (a leading "*." allows
# subdomains; letters, digits, "_", "-", single dots, {placeholders}), an optional port from 1
# to 65535.
_HOST_END = "[A-Za-z0-9{}_]"
_HOST_INNER = "[A-Za-z0-9{}_-]"
_PORT = "(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
HOST_ENTRY_PATTERN = (
    rf"^\s*(?:[Hh][Tt][Tt][Pp][Ss]?://)?(?:\*\.)?{_HOST_END}(?:{_HOST_INNER}*(?:\.{_HOST_INNER}+)*\.?{_HOST_END})?"
    rf"(?::{_PORT})?\s*$"
)


def check_host_pattern(host: str) -> str:
    """Return the normalised allowed-host entry or raise ValueError: a host pattern (a
    leading ``*.`` = subdomains), with ``scheme://`` and ``:port`` kept unless they are
    https on 443."""
    if not re.fullmatch(HOST_ENTRY_PATTERN, host):
        raise ValueError(f"{host!r} is not a host name (a leading '*.' allows subdomains).")
    match = HOST_ENTRY_RE.match(host.strip().lower())
    h = match.group("host") if match else ""
    if not HOST_RE.match(h) or ".." in h or "*" in h[1:]:
        raise ValueError(f"{host!r} is not a host name (a leading '*.' allows subdomains).")
    scheme = match.group("scheme") or "https"
    port = int(match.group("port") or DEFAULT_PORTS[scheme])
    if not 0 < port < 65536:
        raise ValueError(f"{host!r} has no valid port.")
    return h if (scheme, port) == ("https", 443) else f"{scheme}://{h}:{port}"


HostPattern = Annotated[str, AfterValidator(check_host_pattern), Published(HOST_ENTRY_PATTERN), TEMPLATED]


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


def origin_entry_of(url: str) -> str:
    """The allowed-host entry for an already validated URL: its host, with the scheme and
    port written out unless they are https on 443 (``{placeholders}`` kept intact)."""
    scheme, rest = url.split("://", 1)
    scheme = scheme.lower()
    host, _, port = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].lower().partition(":")
    if scheme == "https" and port in ("", "443"):
        return host
    return f"{scheme}://{host}:{port or DEFAULT_PORTS[scheme]}"


# A URL field (a config field with ``url_hosts``) holds a whole URL a person copies from the
# provider (Workday's "Authorization Endpoint" on View API Clients): http(s), a host, an
# optional port and a path; no user name, query or fragment, no backslash that a browser would
# read as "/". Its scheme, host and port must be one of the field's ``url_hosts``.
CONFIG_URL_RE = re.compile(r"(?P<scheme>https?)://(?P<host>[A-Za-z0-9.-]+)(?::(?P<port>[0-9]{1,5}))?(?:/[A-Za-z0-9._~%!$&'()*+,;=:/-]*)?")
CONFIG_URL_MAX_CHARS = 500
# An entry of a URL field's url_hosts: an allowed-host entry without placeholders.
ConfigUrlHost = Annotated[str, AfterValidator(check_host_pattern), Published(HOST_ENTRY_PATTERN)]


class ConfigField(Shape):
    """A value each connection fills in (a data centre, a subdomain), used as ``{name}``; or,
    with ``url_hosts``, a whole URL the person copies from the provider."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    display_name: str = ""
    url_hosts: Annotated[tuple[ConfigUrlHost, ...], Field(
        description="Makes this a URL field: its value is a whole http(s) URL copied from the provider (Workday's "
                    "Authorization Endpoint), on one of these hosts ('*.' allows subdomains), used as a whole URL of "
                    "the auth type's block.")] = ()
    choices: tuple[str, ...] = ()
    # What a person reads for each choice ("eu": "Europe"); a choice without one shows itself.
    choice_labels: dict[str, Annotated[str, StringConstraints(min_length=1, max_length=100)]] = {}
    default: str | None = None
    # Not part of the API's answer: it only narrows what a connection may type.
    pattern: Annotated[str, Field(exclude=True)] = DEFAULT_CONFIG_PATTERN

    @model_validator(mode="after")
    def _consistent(self) -> "ConfigField":
        if not self.display_name:
            object.__setattr__(self, "display_name", self.name)
        try:
            re.compile(self.pattern)
        except re.error:
            raise FieldError("pattern", "Not a valid regular expression.") from None
        if self.is_url and (self.choices or self.pattern != DEFAULT_CONFIG_PATTERN):
            raise FieldError("url_hosts", "A URL field is narrowed by its url_hosts, not by choices or a pattern.")
        for i, host in enumerate(self.url_hosts):
            if "{" in host or "}" in host:
                raise FieldError(f"url_hosts[{i}]", "A URL field's host cannot hold a placeholder.")
        object.__setattr__(self, "url_hosts", tuple(dict.fromkeys(self.url_hosts)))
        for choice in self.choices:
            if self.validate_value(choice):
                raise FieldError("choices", f"Choice {choice!r} is not allowed by the pattern.")
        for choice in self.choice_labels:
            if choice not in self.choices:
                raise FieldError("choice_labels", f"{choice!r} is not one of the choices.")
        if self.default is not None and self.validate_value(self.default):
            raise FieldError("default", "Default is not one of the allowed values.")
        return self

    @property
    def is_url(self) -> bool:
        """Whether the value is a whole URL (on one of ``url_hosts``) rather than a token."""
        return bool(self.url_hosts)

    def validate_value(self, value: Any) -> str | None:
        """Return an error message for ``value``, or None when it is acceptable."""
        if not isinstance(value, str) or not value:
            return "This field is required."
        if self.is_url:
            return url_value_error(value, self.url_hosts)
        if self.choices and value not in self.choices:
            return f"Must be one of: {', '.join(self.choices)}."
        if not re.fullmatch(self.pattern, value) or not re.fullmatch(DEFAULT_CONFIG_PATTERN, value):
            return "Contains characters that are not allowed here."
        return None


def url_value_error(value: str, hosts: tuple[str, ...]) -> str | None:
    """Why ``value`` is not a URL on one of ``hosts`` (allowed-host entries: a bare host is
    https on 443), or None."""
    match = CONFIG_URL_RE.fullmatch(value) if len(value) <= CONFIG_URL_MAX_CHARS else None
    if match is None:
        return "Must be an https URL: a host and a path, without a user name, query or fragment."
    scheme, host = match.group("scheme").lower(), match.group("host").lower().rstrip(".")
    port = int(match.group("port") or DEFAULT_PORTS[scheme])
    for entry in hosts:
        allowed = HOST_ENTRY_RE.match(entry)
        allowed_scheme = allowed.group("scheme") or "https"
        allowed_port = int(allowed.group("port") or DEFAULT_PORTS[allowed_scheme])
        if (scheme, port) == (allowed_scheme, allowed_port) and host_matches(host, (allowed.group("host"),)):
            return None
    return f"Must be a URL on {', '.join(hosts)}."


def hostname_of(url: str) -> str:
    """Return the host of an already validated URL, keeping ``{placeholders}`` intact."""
    netloc = url.split("://", 1)[1].split("/", 1)[0]
    return netloc.split(":", 1)[0].lower()


def has_marker(metadata: list, marker: type) -> bool:
    return any(isinstance(m, marker) for m in metadata)


def is_url(metadata: list) -> bool:
    """Whether a field's metadata makes it a ``Url`` (forms render it as a URL input)."""
    return any(isinstance(m, AfterValidator) and m.func is _check_url for m in metadata)
