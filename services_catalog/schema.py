"""The shape of a service: one pydantic definition, from which everything else is derived.

Preconfigured services (YAML files) and custom services (the API, the custom-service form,
stored per organisation) all go through ``ServiceDefinition.from_dict``, so they obey the
same rules; the API's OpenAPI schema is this model's JSON schema. The fields every service
has are declared here; the block each auth type reads (``oauth2``, ``oauth1``, ...) is
declared by that auth type (``connections_app.auth``) and added from its registry, so a new
auth type needs no edit here.

Every error names the source (file or "custom service") and the field, so a bad catalog
file fails start-up with a message an operator can act on, and the API names the field.
"""

from __future__ import annotations

import functools
import re
import typing
from typing import Annotated, Any, Literal, Mapping
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, StringConstraints, ValidationError, create_model, model_validator

from connections_app.auth.registry import AUTH_TYPES, sections

from .fields import (
    FORBIDDEN_DEFAULT_HEADERS,
    LINK_NAME_PATTERN,
    LINK_NAME_RE,
    PLACEHOLDER_RE,
    ConfigField,
    FieldError,
    HostPattern,
    Parameter,
    Scope,
    Shape,
    StringMap,
    Templated,
    Url,
    Verify,
    hostname_of,
    is_url,
    origin_entry_of,
    host_matches,
)

__all__ = [
    "LINK_NAME_RE", "PLACEHOLDER_RE", "ConfigField", "Parameter", "Scope", "SchemaError", "ServiceDefinition",
    "Verify", "host_matches", "AUTH_TYPE_NAMES", "PARAM_TYPES", "SIGNATURE_METHODS", "choices_of",
]

PARAM_TYPES = ("header", "query", "form")
AUTH_TYPE_NAMES = tuple(AUTH_TYPES)
LINK_NAME_MESSAGE = "Must start with a lower case letter and use only a-z, 0-9 and _ (2 to 50 characters)."


class SchemaError(ValueError):
    """A service definition is invalid: ``errors`` maps each field to its messages;
    ``field`` and ``message`` are the first."""

    def __init__(self, source: str, errors: dict[str, list[str]]):
        self.source = source
        self.errors = errors
        self.field, messages = next(iter(errors.items()))
        self.message = messages[0]
        super().__init__(f"{source}: {self.field}: {self.message}")


class _ServiceFields(Shape):
    """The fields every service has, whatever its auth type."""

    link_name: Annotated[str, Field(pattern=LINK_NAME_PATTERN, description="Unique; scripts and connections use it.")]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=r"\S")]
    auth_type: Literal[tuple(AUTH_TYPES)]  # type: ignore[valid-type]
    param_type: Literal["header", "query", "form"] = "header"
    parameters: tuple[Parameter, ...] = ()
    base_url: Url | None = None
    allowed_hosts: Annotated[
        tuple[HostPattern, ...],
        Field(description="The only hosts credentials are sent to; defaults to the host of base_url (or sample_url)."),
    ] = ()
    scopes: tuple[Scope, ...] = ()
    default_scopes: tuple[str, ...] = ()
    config_fields: tuple[ConfigField, ...] = ()
    docs_url: Url | None = None
    sample_url: Url | None = None
    verify: Verify | None = None
    description: str = ""
    default_headers: StringMap = {}

    _source: str = PrivateAttr("")
    _kind: str = PrivateAttr("preconfigured")

    @model_validator(mode="before")
    @classmethod
    def _kind_is_not_input(cls, data: Any) -> Any:
        # Stored custom definitions and old clients may carry "kind"; it is set by the caller.
        if isinstance(data, Mapping) and "kind" in data:
            data = {k: v for k, v in data.items() if k != "kind"}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> "_ServiceFields":
        auth = AUTH_TYPES[self.auth_type]
        for block in sections():
            if block == auth.section and getattr(self, block) is None:
                raise FieldError(block, f"Required for auth_type {self.auth_type}.")
            if block != auth.section and getattr(self, block) is not None:
                raise FieldError(block, f"Only for auth_type {sections()[block].name}.")
        auth.check_service(self)
        _unique(self.parameters, lambda p: p.key.lower(), "parameters", "key")
        _unique(self.scopes, lambda s: s.name, "scopes", "name")
        scope_names = self.scope_names
        for name in self.default_scopes:
            if name not in scope_names:
                raise FieldError("default_scopes", f"Unknown scope {name!r}.")
        for key in self.default_headers:
            if key.lower() in FORBIDDEN_DEFAULT_HEADERS:
                raise FieldError("default_headers", f"{key} cannot be a default header.")
        for field_name, value in (("base_url", self.base_url), ("sample_url", self.sample_url)):
            leading = re.match(r"^\{([a-z][a-z0-9_]*)\}", value or "")
            if leading and leading.group(1) not in auth.provided_names(self):
                raise FieldError(field_name, "Only a value kept from the provider (an origin) may start a URL.")
            if leading and not self.allowed_hosts:
                raise FieldError("allowed_hosts", "Name the hosts the provider's value may point to.")
        if not self.allowed_hosts:
            source_url = self.base_url or self.sample_url
            if not source_url:
                raise FieldError("allowed_hosts", "Name at least one allowed host (or give a base_url or sample_url).")
            object.__setattr__(self, "allowed_hosts", (origin_entry_of(source_url),))
        else:
            object.__setattr__(self, "allowed_hosts", tuple(dict.fromkeys(self.allowed_hosts)))
        config_names = {f.name for f in self.config_fields}
        # A URL field's value is a whole URL: it may only be a whole URL of the auth type's block.
        url_names = {f.name for f in self.config_fields if f.is_url}
        provided = set(auth.provided_names(self))
        urls = (("base_url", self.base_url), ("sample_url", self.sample_url), ("verify.path", self.verify and self.verify.path))
        hosts = (("allowed_hosts", host) for host in self.allowed_hosts)
        for field_name, value in (*urls, *hosts, *auth.templated_values(self)):
            known = config_names | provided if field_name in dict(urls) else config_names
            for placeholder in PLACEHOLDER_RE.findall(value or ""):
                if placeholder not in known:
                    raise FieldError(field_name, f"Placeholder {{{placeholder}}} is not a config field.")
                if placeholder in url_names:
                    raise FieldError(field_name, f"{{{placeholder}}} is a whole URL: only a URL of the auth type's block may be it.")
        block = getattr(self, auth.section) if auth.section else None
        for name in _url_fields(type(block)) if block is not None else ():
            value = getattr(block, name) or ""
            for placeholder in PLACEHOLDER_RE.findall(value):
                if placeholder not in config_names:
                    raise FieldError(f"{auth.section}.{name}", f"Placeholder {{{placeholder}}} is not a config field.")
                if placeholder in url_names and value != f"{{{placeholder}}}":
                    raise FieldError(f"{auth.section}.{name}", f"{{{placeholder}}} is a whole URL: use it alone.")
            if value.startswith("{") and value[1:-1] not in url_names:
                raise FieldError(f"{auth.section}.{name}", "Only a URL field (a config field with url_hosts) may start this URL.")
        return self

    # -- what the rest of the code asks -------------------------------------------------
    @property
    def source(self) -> str:
        return self._source

    @property
    def kind(self) -> str:
        return self._kind

    @property
    def auth(self):
        """The auth type's class (``connections_app.auth``) for this service."""
        return AUTH_TYPES[self.auth_type]

    @property
    def client(self) -> Shape | None:
        """The block holding the OAuth client (id and secret), or None for other types."""
        auth = self.auth
        return getattr(self, auth.section) if auth.client_fields else None

    @property
    def client_fields(self) -> tuple[str, str] | None:
        """The (id, secret) field names of the organisation's client for this service (the
        secret may be a private key: ``private_key_jwt``)."""
        return self.auth(self).client_field_names()

    @property
    def client_extra_names(self) -> tuple[str, ...]:
        """The organisation's client's other (non-secret) values this service needs."""
        return self.auth(self).client_extra_names()

    @property
    def provided_names(self) -> tuple[str, ...]:
        """Placeholders the provider fills (values kept from its answers)."""
        return self.auth.provided_names(self)

    @property
    def is_oauth(self) -> bool:
        """Whether connections need an organisation's OAuth client (and take scopes)."""
        return self.auth.client_fields is not None

    @property
    def scope_names(self) -> frozenset[str]:
        return frozenset(s.name for s in self.scopes)

    def credential_fields(self) -> tuple[Parameter, ...]:
        """Return the fields a connection must supply for this service (typed credentials)."""
        return self.auth(self).credential_fields()

    def config_errors(self, config: Mapping[str, Any]) -> dict[str, list[str]]:
        """Return ``{config.<name>: [message]}`` for missing, bad or unknown config values."""
        errors: dict[str, list[str]] = {}
        names = {f.name for f in self.config_fields}
        for key in config:
            if key not in names:
                errors[f"config.{key}"] = ["Unknown config field."]
        for f in self.config_fields:
            value = config.get(f.name, f.default)
            message = f.validate_value(value) if value is not None else "This field is required."
            if message:
                errors[f"config.{f.name}"] = [message]
        return errors

    def with_config(self, config: Mapping[str, Any]) -> "ServiceDefinition":
        """Return a copy with ``{placeholders}`` filled from ``config`` (validated values only,
        and the values kept from the provider, checked by ``kept_values_error`` when stored)."""
        provided = self.provided_names
        if not self.config_fields and not provided:
            return self
        values = {f.name: config.get(f.name) or f.default for f in self.config_fields}
        values.update({name: config.get(name) for name in provided if isinstance(config.get(name), str)})

        def fill(text: str) -> str:
            return PLACEHOLDER_RE.sub(lambda m: str(values.get(m.group(1)) or m.group(0)), text)

        return _map_templated(self, fill)

    def kept_values_error(self, config: Mapping[str, Any], kept: Mapping[str, str]) -> str | None:
        """Why values kept from the provider cannot be used, or None. A value is either an
        http(s) origin, whose host must be one of ``allowed_hosts`` (which such values cannot
        name), or a plain token; only an origin may start a URL, and every URL they fill must
        stay inside ``allowed_hosts``: a provider cannot widen its own hosts."""
        hosts = self.with_config(config).allowed_hosts
        for name, value in kept.items():
            if not isinstance(value, str) or not value or len(value) > 500:
                return f"The provider's {name} is missing or not a short string."
            origin = re.fullmatch(r"https?://([A-Za-z0-9.-]+)(:[0-9]{1,5})?/?", value)
            starts_url = any((url or "").startswith("{" + name + "}") for url in (self.base_url, self.sample_url))
            if origin and not host_matches(origin.group(1), hosts):
                return f"The provider's {name} names a host outside this service's allowed hosts ({origin.group(1).lower()})."
            if not origin and (starts_url or not re.fullmatch(r"[A-Za-z0-9._~-]{1,200}", value)):
                return f"The provider's {name} is not a value this service can use."
        filled = self.with_config({**config, **{k: v.rstrip("/") for k, v in kept.items()}})
        for url in (filled.base_url, filled.sample_url):
            if url and not host_matches(urlsplit(url).hostname or "", filled.allowed_hosts):
                return f"The provider's values name a host outside this service's allowed hosts ({hostname_of(url)})."
        return None

    def with_client(self, client_id: str | None, client_secret: str | None, extra: Mapping[str, str] | None = None) -> "ServiceDefinition":
        """Return a copy whose OAuth block carries this organisation's client (``extra``: its
        other values the auth type names, such as eBay's ``redirect_name``)."""
        block = self.client
        if block is None:
            return self
        id_field, secret_field = self.client_fields
        changes = {id_field: client_id or getattr(block, id_field), secret_field: client_secret}
        changes.update({name: value for name, value in (extra or {}).items() if value and name in self.client_extra_names})
        updated = block.model_copy(update=changes)
        return self.model_copy(update={self.auth.section: updated})

    # -- in and out ---------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any, *, source: str, kind: str = "preconfigured", https_only: bool | None = None) -> "ServiceDefinition":
        """Validate ``data``. The shipped catalog is https only; a custom service, and a
        folder the operator adds (``https_only=False``), may name ``http://`` origins
        explicitly (an on-premises API)."""
        if not isinstance(data, Mapping):
            raise SchemaError(source, {"(root)": ["Must be a mapping of fields."]})
        try:
            service = ServiceDefinition.model_validate(data)
        except ValidationError as exc:
            raise SchemaError(source, errors_by_field(exc)) from None
        service._source = source
        service._kind = kind
        if https_only if https_only is not None else kind != "custom":
            plain = _plain_http_fields(service.to_dict())
            if plain:
                raise SchemaError(source, {name: ["Preconfigured services are reached over https only."] for name in plain})
        return service

    def to_dict(self) -> dict[str, Any]:
        """Return the definition as plain data (the custom-service storage shape), without
        its client secret: secret fields are never dumped."""
        return self.model_dump(mode="json")


def _plain_http_fields(data: Any, prefix: str = "") -> list[str]:
    """The URL fields (``*_url``) and allowed-host entries of a dumped definition that say
    plain http: the catalog's services are reached over https only."""
    found = []
    if isinstance(data, Mapping):
        for key, value in data.items():
            name = f"{prefix}{key}"
            if isinstance(value, str) and key.endswith("url") and value.lower().startswith("http://"):
                found.append(name)
            elif key in ("allowed_hosts", "url_hosts") and isinstance(value, list):
                found += [f"{name}[{i}]" for i, h in enumerate(value) if str(h).startswith("http://")]
            elif isinstance(value, Mapping):
                found += _plain_http_fields(value, f"{name}.")
            elif key == "config_fields" and isinstance(value, list):  # a URL field's url_hosts
                for i, item in enumerate(value):
                    found += _plain_http_fields(item, f"{name}[{i}].")
    return found


ServiceDefinition = create_model(
    "ServiceDefinition",
    __base__=_ServiceFields,
    __doc__="A service: the fields every service has, plus the block of its auth type.",
    **{block: (auth.section_model | None, None) for block, auth in sections().items()},
)


def merge_changes(stored: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """Apply a partial update (PATCH) to a stored definition: an auth type's block merges
    key by key; a new base_url without allowed_hosts recomputes the hosts from it."""
    merged = dict(stored)
    for key, value in changes.items():
        if key in sections() and isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    if "base_url" in changes and "allowed_hosts" not in changes:
        merged["allowed_hosts"] = None
    return merged


def choices_of(model: type[Shape], field: str) -> tuple[str, ...]:
    """The values a Literal field accepts (for forms and filters), read from its declaration."""
    return typing.get_args(model.model_fields[field].annotation)


SIGNATURE_METHODS = choices_of(sections()["oauth1"].section_model, "signature_method")


def _unique(items, key, list_name: str, field: str) -> None:
    seen = set()
    for i, item in enumerate(items):
        k = key(item)
        if k in seen:
            raise FieldError(f"{list_name}[{i}].{field}", f"Duplicate {field} {getattr(item, field)!r}.")
        seen.add(k)


# -- markers: act on every templated or secret field without naming them -----------------
def _marked(annotation: Any, marker: type) -> bool:
    """Whether ``annotation`` (or a type inside it: Optional, tuple) carries ``marker``."""
    if typing.get_origin(annotation) is Annotated:
        if any(isinstance(m, marker) for m in annotation.__metadata__):
            return True
        return _marked(typing.get_args(annotation)[0], marker)
    return any(_marked(arg, marker) for arg in typing.get_args(annotation))


@functools.cache
def _templated_fields(model: type[Shape]) -> tuple[tuple[str, str], ...]:
    """(field name, "str" | "tuple" | "map" | "model") for each field that holds templated text."""
    out = []
    for name, info in model.model_fields.items():
        annotation = info.rebuild_annotation()
        if _marked(annotation, Templated):
            origin = typing.get_origin(info.annotation)
            out.append((name, "tuple" if origin is tuple else "map" if origin is dict else "str"))
        elif typing.get_origin(info.annotation) is not tuple and any(
            isinstance(a, type) and issubclass(a, Shape) for a in (info.annotation, *typing.get_args(info.annotation))
        ):
            out.append((name, "model"))
    return tuple(out)


@functools.cache
def _url_fields(model: type[Shape]) -> tuple[str, ...]:
    """The fields of an auth type's block that hold a URL (authorize_url, token_url, ...)."""
    return tuple(name for name, info in model.model_fields.items() if _holds_url(info.rebuild_annotation()))


def _holds_url(annotation: Any) -> bool:
    if typing.get_origin(annotation) is Annotated:
        return is_url(list(annotation.__metadata__)) or _holds_url(typing.get_args(annotation)[0])
    return typing.get_origin(annotation) is not tuple and any(_holds_url(arg) for arg in typing.get_args(annotation))


def _map_templated(model: Shape, fill) -> Any:
    changes: dict[str, Any] = {}
    for name, shape in _templated_fields(type(model)):
        value = getattr(model, name)
        if value is None:
            continue
        if shape == "str":
            changes[name] = fill(value)
        elif shape == "tuple":
            changes[name] = tuple(fill(v) for v in value)
        elif shape == "map":
            changes[name] = {k: fill(v) for k, v in value.items()}
        else:
            changes[name] = _map_templated(value, fill)
    return model.model_copy(update=changes)


# -- errors ------------------------------------------------------------------------------
_MESSAGES = {
    "missing": "This field is required.",
    "extra_forbidden": "Unknown field.",
    "string_type": "Must be a string.",
    "bool_type": "Must be true or false.",
    "tuple_type": "Must be a list.",
    "list_type": "Must be a list.",
    "dict_type": "Must be an object.",
    "model_type": "Must be an object.",
    "model_attributes_type": "Must be an object.",
    "string_too_short": "This field is required.",
}
_PATTERN_MESSAGES = {
    LINK_NAME_PATTERN: LINK_NAME_MESSAGE,
    r"^[A-Za-z0-9_.\-]{1,100}$": "Use letters, digits, '_', '-' or '.'.",
    r"^[a-z][a-z0-9_]*$": "Use lower case letters, digits and _.",
    r"^\S+$": "Must not contain white space.",
    r"^[A-Za-z][A-Za-z0-9_.-]{0,39}$": "Must be a single word such as Bearer.",
}


def _field_name(loc: tuple) -> str:
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else str(part)
    return name or "(root)"


def _message(error: dict) -> tuple[tuple, str]:
    kind, ctx, loc = error["type"], error.get("ctx") or {}, tuple(error["loc"])
    cause = ctx.get("error")
    if isinstance(cause, FieldError):
        return (*loc, *cause.field.replace("[", ".[").split(".")), cause.message
    if kind == "value_error" and cause is not None:
        return loc, str(cause)
    if kind == "literal_error":
        return loc, f"Must be one of: {ctx.get('expected')}."
    if kind == "string_pattern_mismatch":
        return loc, _PATTERN_MESSAGES.get(ctx.get("pattern"), f"Must match {ctx.get('pattern')}.")
    if kind == "string_too_long":
        return loc, f"At most {ctx.get('max_length')} characters."
    return loc, _MESSAGES.get(kind, error["msg"])


def errors_by_field(exc: ValidationError) -> dict[str, list[str]]:
    """Map pydantic's errors to ``{"oauth2.token_url": ["message"], ...}`` in the API's words."""
    out: dict[str, list[str]] = {}
    for error in exc.errors():
        loc, message = _message(error)
        loc = tuple(int(p[1:-1]) if isinstance(p, str) and p[1:-1].isdigit() else p for p in loc if p not in ("", "[key]"))
        out.setdefault(_field_name(loc), []).append(message)
    return out
