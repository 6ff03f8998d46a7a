"""The custom-service page: a service's fields, its parameter and scope rows, and on the
create page the first connection's names and credentials, validated together in one pass.

The fields every service has are declared here; each auth type's own fields are derived
from its block of the service definition (``service_blocks``), and the page asks the auth
type registry which rows and credentials a type takes, so nothing here names an auth type.
What was typed is judged by the service definition itself (``ServiceDefinition.from_dict``)
and its errors come back next to the fields, all at once, together with what only the page
checks: link names taken, the connection's credentials, and the rules invoke applies to
every call later (ports other than 80/443 and private addresses are refused unless
CONNECTIONS_ALLOW_PRIVATE_NETWORKS is on). The business functions check again; what they
find comes back onto the fields the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import urlsplit

from django import forms
from django.conf import settings

from services_catalog.schema import SchemaError, ServiceDefinition, merge_changes

from ... import http, selectors
from ...auth.base import AuthType
from ...auth.registry import AUTH_TYPES
from ...errors import ConnectionsError, HostNotAllowed, ValidationFailed
from .base import (
    AUTH_TYPE_CHOICES,
    PARAM_TYPE_CHOICES,
    SECRET_KEEP_HELP,
    DomainErrorsMixin,
    LinkNameField,
    connection_link_name,
    error_summary,
    quiet,
    secret_input,
)
from .connections import LINK_NAME_HELP, credential_field
from .service_blocks import BlockField, block_fields

REQUIRED = "This field is required."


def split_hosts(text: str | None) -> list[str]:
    return [h for h in re.split(r"[\s,]+", text or "") if h]


def upstream_refusal(url: str) -> str | None:
    """Say why invoke would refuse every call to ``url`` (a port, a private address), or None.

    The same check invoke runs before it sends a byte (``http.check_url``), so what is
    accepted here is what works later.
    """
    host = http.host_of(url)
    refused = None
    try:
        http.check_url(url, [http.origin_entry(url)])  # the URL names its own scheme and port
    except HostNotAllowed as exc:
        refused = exc.message
    except ValidationFailed:
        return None  # a shape problem: reported as such
    if refused is None and (host == "localhost" or host.endswith(".localhost")) and not settings_allow_private():
        refused = "Private, loopback and link-local addresses are not allowed."
    if refused is None:
        return None
    return f"{refused} Calls to it would be refused; an operator allows them with CONNECTIONS_ALLOW_PRIVATE_NETWORKS=1."


def settings_allow_private() -> bool:
    return bool(settings.CONNECTIONS_ALLOW_PRIVATE_NETWORKS)


def upstream_refusals(data: dict, prefix: str = "") -> dict[str, str]:
    """Invoke's refusal for every URL (``*_url``, in any block) and allowed host of a service
    given as plain data, by field name (``oauth2.token_url``, ``allowed_hosts``)."""
    out: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(upstream_refusals(value, f"{name}."))
        elif isinstance(value, str) and key.endswith("url"):
            parts = urlsplit(value)
            if parts.scheme in ("http", "https") and parts.hostname and (refusal := upstream_refusal(value)):
                out[name] = refusal
        elif key == "allowed_hosts" and isinstance(value, list):
            for host in value:
                refusal = upstream_refusal(f"https://{host.lower().removeprefix('*.')}/") if "{" not in host else None
                if refusal and name not in out:
                    out[name] = f"{host}: {refusal}"
    return out


def auth_types_where(test) -> str:
    """The auth types (space separated, for ``data-auth-only``) for which ``test(cls)`` holds."""
    return " ".join(name for name, cls in AUTH_TYPES.items() if test(cls))


# -- rows ----------------------------------------------------------------------------------
class RowForm(forms.Form):
    """One row of a list: the field that names it (``identity``) and the name people see."""

    identity: ClassVar[str]

    def has_content(self) -> bool:
        data = self.cleaned_data
        return bool(data.get(self.identity) or data.get("display_name")) and not data.get("DELETE")

    def as_item(self) -> dict:
        value = self.cleaned_data[self.identity]
        return {self.identity: value, "display_name": self.cleaned_data["display_name"] or value}


def _row_input(placeholder: str, **attrs) -> forms.TextInput:
    return forms.TextInput(attrs={"placeholder": placeholder, **attrs})


class ParameterRowForm(RowForm):
    identity = "key"
    columns = {"key": "Parameter key"}
    key = forms.CharField(label="Key", max_length=100, required=False, widget=_row_input("e.g. X-Api-Key", autocomplete="off", spellcheck="false"))
    display_name = forms.CharField(label="Display name", max_length=100, required=False, widget=_row_input("e.g. API key"))


class ParameterValueRowForm(ParameterRowForm):
    """A parameter row on the create page, which also takes this connection's value."""

    value = forms.CharField(label="Value for this connection", max_length=4096, required=False, strip=False, widget=secret_input())


class ScopeRowForm(RowForm):
    identity = "name"
    columns = {"name": "Scope"}
    name = forms.CharField(label="Name", max_length=300, required=False, widget=_row_input("e.g. contacts.read", autocomplete="off", spellcheck="false"))
    display_name = forms.CharField(label="Display name", max_length=200, required=False, widget=_row_input("e.g. Read contacts"))


class RowFormSet(forms.BaseFormSet):
    """Rows of one kind; each field's label names its row ("Parameter 2 key") so that
    screen readers tell the rows apart. The column heading keeps the short label."""

    deletion_widget = forms.CheckboxInput
    noun = "Row"

    def add_fields(self, form, index):
        super().add_fields(form, index)
        number = "__number__" if index is None else str(index + 1)  # app.js numbers added rows
        for name, field in form.fields.items():
            if name == "DELETE":
                field.label = f"Remove {self.noun.lower()} {number}"
                continue
            field.column = getattr(form, "columns", {}).get(name, field.label)
            field.label = f"{self.noun} {number} {field.label[0].lower()}{field.label[1:]}"

    def rows(self) -> list[tuple[int, forms.Form]]:
        """Return (position in the formset, form) of the rows that hold something."""
        return [(i, f) for i, f in enumerate(self.forms) if f.is_valid() and f.has_content()]

    def items(self) -> list[dict]:
        return [form.as_item() for _i, form in self.rows()]

    def check_unique(self) -> bool:
        """Mark a row that repeats an earlier one (the definition says so too, but only once
        every field is valid: this way it shows with the other mistakes)."""
        seen: set[str] = set()
        ok = True
        for _i, row in self.rows():
            identity = row.identity
            value = row.cleaned_data.get(identity) or ""
            if not value:
                continue
            folded = value.lower() if identity == "key" else value  # header names ignore case
            if folded in seen:
                row.add_error(identity, f"Duplicate {identity} {value!r}.")
                ok = False
            seen.add(folded)
        return ok


class ParameterRows(RowFormSet):
    noun = "Parameter"


class ScopeRows(RowFormSet):
    noun = "Scope"


ParameterFormSet = forms.formset_factory(ParameterRowForm, formset=ParameterRows, extra=0, can_delete=True, max_num=50, absolute_max=60)
ParameterValueFormSet = forms.formset_factory(ParameterValueRowForm, formset=ParameterRows, extra=0, can_delete=True, max_num=50, absolute_max=60)
ScopeFormSet = forms.formset_factory(ScopeRowForm, formset=ScopeRows, extra=0, can_delete=True, max_num=100, absolute_max=110)


# -- the service -----------------------------------------------------------------------------
@dataclass
class Section:
    """One auth type's block on the page: its fields, shown first or under "More options"."""

    auth: type[AuthType]
    first: list
    more: list
    callback_url: str = ""  # what a person registers with the provider, for a consent type

    @property
    def name(self) -> str:
        return self.auth.name

    @property
    def label(self) -> str:
        return self.auth.label

    @property
    def more_open(self) -> bool:
        """Unfolded when an option there has an error or a value other than its default."""
        return any(f.errors or _is_set(f) for f in self.more)


def _is_set(bound) -> bool:
    field = bound.field
    value, default = field.prepare_value(bound.value()), field.prepare_value(field.declared_default)
    return value != default and value not in (None, "", False)


class CustomServiceForm(DomainErrorsMixin, forms.Form):
    """The service part of a custom service: the same fields on create and on edit."""

    service_name = forms.CharField(label="Service name", max_length=100, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    service_link_name = LinkNameField(label="Service link name", help_text="Lower case letters, digits and _; it never changes.")
    auth_type = forms.ChoiceField(label="Authentication type", choices=AUTH_TYPE_CHOICES, initial=AUTH_TYPE_CHOICES[0][0])
    param_type = forms.ChoiceField(
        label="Parameter type", choices=PARAM_TYPE_CHOICES, initial="header",
        help_text="Where the credentials travel on each call. Some authentication types (Basic, signatures) always use a header.",
    )
    base_url = forms.CharField(label="Base URL", required=False, max_length=2000, widget=forms.URLInput(attrs={"placeholder": "https://api.example.com/v1"}), help_text="Paths such as /me in scripts are resolved against it.")
    allowed_hosts = forms.CharField(
        label="Allowed hosts", required=False, max_length=2000,
        widget=forms.TextInput(attrs={"placeholder": "api.example.com *.example.com", "spellcheck": "false"}),
        help_text="The only hosts the credentials are ever sent to, separated by spaces or commas. Empty: the host of the base URL. A leading *. allows subdomains.",
    )
    sample_url = forms.CharField(label="Sample URL", required=False, max_length=2000, widget=forms.URLInput(), help_text="Used in the code snippets.")
    verify_path = forms.CharField(label="Test request path", required=False, max_length=2000, help_text="A cheap GET request, such as /v1/me, that “Test connection” runs.")

    # The definition's names of the fields above (errors arrive in them).
    SCHEMA_FIELDS = {
        "link_name": "service_link_name", "name": "service_name", "auth_type": "auth_type", "param_type": "param_type",
        "base_url": "base_url", "allowed_hosts": "allowed_hosts", "sample_url": "sample_url", "verify": "verify_path",
        "verify.path": "verify_path",
    }

    def __init__(self, *args, editing=None, organisation=None, callback_urls=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.editing = editing
        self.callback_urls = callback_urls or {}
        self.organisation = organisation
        self.fields["base_url"].conditional = True  # required unless allowed hosts are named
        self.fields["service_link_name"].widget.attrs.update({"data-linkname-from": "id_service_name", "data-linkname-kind": "service"})
        # Each auth type's block, derived from its declaration.
        self.blocks: dict[str, list[BlockField]] = {}
        for name, auth in AUTH_TYPES.items():
            self.blocks[name] = block_fields(auth)
            for block_field in self.blocks[name]:
                if block_field.secret and editing is not None and editing.client_secret_encrypted:
                    block_field.field.help_text = SECRET_KEEP_HELP
                self.fields[block_field.form_name] = block_field.field
        if editing is not None:
            # The link name of a service never changes: shown, not editable, not posted.
            del self.fields["service_link_name"]
            self.initial = {**self.initial, **self.initial_from(editing.definition)}

    @property
    def snippet_fields(self) -> list:
        return [self["sample_url"], self["verify_path"]]

    @property
    def snippet_open(self) -> bool:
        return any(f.errors or f.value() for f in self.snippet_fields)

    @property
    def sections(self) -> list[Section]:
        """The auth types that have a block, with their bound fields, for the template."""
        out = []
        for name, fields_ in self.blocks.items():
            if fields_:
                bound = [(f, self[f.form_name]) for f in fields_]
                first, more = [b for f, b in bound if f.shown_first], [b for f, b in bound if not f.shown_first]
                out.append(Section(AUTH_TYPES[name], first, more, self.callback_urls.get(name, "")))
        return out

    @property
    def auth(self) -> type[AuthType] | None:
        return AUTH_TYPES.get(self.cleaned_data.get("auth_type") or "") if hasattr(self, "cleaned_data") else None

    def clean_service_link_name(self):
        value = self.cleaned_data["service_link_name"]
        owner = self.organisation and selectors.service_link_name_owner(organisation=self.organisation, link_name=value)
        if owner:
            raise forms.ValidationError(f"The link name {value!r} is taken by a{'' if owner == 'custom' else ' preconfigured'} service.")
        return value

    def field_for(self, name: str) -> str | None:
        name = name.removeprefix("service.")
        name = re.sub(r"\[\d+\]$", "", name)  # allowed_hosts[2] -> allowed_hosts
        if name in self.SCHEMA_FIELDS:
            return super().field_for(self.SCHEMA_FIELDS[name])
        section, _, rest = name.partition(".")
        if rest and section in (auth.section for auth in AUTH_TYPES.values()):
            option = re.split(r"[.\[]", rest)[0]  # oauth2.authorize_params.x -> authorize_params
            return super().field_for(f"{section}_{option}")
        return super().field_for(name)

    def service_data(self, *, parameters: list[dict], scopes: list[dict]) -> dict:
        """Return the custom service as ``services.custom_service_create/update`` take it: the
        common fields, and the block of the chosen auth type (every other block empty)."""
        d = self.cleaned_data
        auth = self.auth
        data = {
            "name": d.get("service_name"),
            "auth_type": d.get("auth_type"),
            "param_type": d.get("param_type"),
            "base_url": d.get("base_url") or None,
            "allowed_hosts": split_hosts(d.get("allowed_hosts")) or None,
            "sample_url": d.get("sample_url") or None,
            "verify": {"method": "GET", "path": d["verify_path"]} if d.get("verify_path") else None,
            "parameters": parameters if auth and auth.takes_parameters else [],
            "scopes": scopes if auth and auth.asks_scopes else [],
            "default_scopes": [s["name"] for s in scopes] if auth and auth.asks_scopes else [],
            **{other.section: None for other in AUTH_TYPES.values() if other.section},
        }
        if self.editing is None:
            data["link_name"] = d.get("service_link_name")
        if auth and auth.section:
            block = {f.name: f.to_block(d.get(f.form_name)) for f in self.blocks[auth.name]}
            # An empty secret is left out: on edit, the stored one is kept.
            data[auth.section] = {k: v for k, v in block.items() if v is not None or not self._is_secret(auth, k)}
        return data

    def _is_secret(self, auth, name: str) -> bool:
        return any(f.secret for f in self.blocks[auth.name] if f.name == name)

    def client_missing(self, definition: ServiceDefinition | None, data: dict) -> dict[str, str]:
        """The organisation's client fields a custom OAuth service must carry and does not,
        by field name (``oauth2.client_id``). Without a valid definition, the type's own
        client fields are asked for."""
        auth = self.auth
        if auth is None or not auth.client_fields:
            return {}
        if definition is not None:
            strategy = definition.auth(definition)
            if strategy.client_optional:
                return {}
            id_field, secret_field = strategy.client_field_names()
        else:
            id_field, secret_field = auth.client_fields
        block = data.get(auth.section) or {}
        missing = {}
        if not block.get(id_field):
            missing[f"{auth.section}.{id_field}"] = REQUIRED
        stored = self.editing is not None and self.editing.client_secret_encrypted
        if not block.get(secret_field) and not stored:
            missing[f"{auth.section}.{secret_field}"] = REQUIRED
        return missing

    def initial_from(self, definition: dict) -> dict:
        """Return the form's initial values for a stored definition (never a secret)."""
        verify = definition.get("verify") or {}
        hosts = list(definition.get("allowed_hosts") or [])
        source = definition.get("base_url") or definition.get("sample_url") or ""
        if hosts == [(urlsplit(source).hostname or "").lower()]:
            hosts = []  # the default: shown empty, so a new base URL brings its own host
        initial = {
            "service_name": definition.get("name"), "auth_type": definition.get("auth_type"),
            "param_type": definition.get("param_type"), "base_url": definition.get("base_url") or "",
            "allowed_hosts": " ".join(hosts), "sample_url": definition.get("sample_url") or "",
            "verify_path": verify.get("path") or "",
        }
        for name, fields_ in self.blocks.items():
            auth = AUTH_TYPES[name]
            stored = definition.get(auth.section) if auth.section else None
            for f in fields_ if isinstance(stored, dict) else ():
                if stored.get(f.name) is not None:
                    initial[f.form_name] = f.to_initial(stored[f.name])
        return initial


class NewConnectionForm(DomainErrorsMixin, forms.Form):
    """The connection part of the custom-service page: names, and the credentials of the
    auth types whose fields do not depend on the service (``<auth_type>_<key>``)."""

    name = forms.CharField(label="Connection name", max_length=100, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    link_name = LinkNameField(label="Connection link name", help_text=LINK_NAME_HELP)

    def __init__(self, *args, organisation=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.organisation = organisation
        self.fields["link_name"].widget.attrs["data-linkname-from"] = "id_name"
        self.credentials: dict[str, list[tuple[str, str]]] = {}  # auth type -> [(key, form field name)]
        for auth_name, auth in AUTH_TYPES.items():
            for parameter in auth.fixed_credential_fields:
                form_name = f"{auth_name}_{parameter.key}"
                self.fields[form_name] = credential_field(parameter, required=False, help_text="")
                self.fields[form_name].conditional = getattr(parameter, "required", True)
                self.credentials.setdefault(auth_name, []).append((parameter.key, form_name))

    @property
    def credential_groups(self) -> list[tuple[str, list]]:
        """(auth type, bound fields) of each type that asks for its own credentials."""
        return [(name, [self[f] for _key, f in keys]) for name, keys in self.credentials.items()]

    def clean_link_name(self):
        value = connection_link_name(self.cleaned_data["link_name"])
        if self.organisation is not None and selectors.connection_link_name_taken(organisation=self.organisation, link_name=value):
            raise forms.ValidationError(f"The link name {value!r} is already used by another connection.")
        return value

    def typed_credentials(self, auth_name: str) -> dict[str, str]:
        return {key: self.cleaned_data.get(f) or "" for key, f in self.credentials.get(auth_name, [])}

    def check_credentials(self, auth_name: str) -> bool:
        """Mark the required credentials of ``auth_name`` that are empty."""
        ok = True
        for key, form_name in self.credentials.get(auth_name, []):
            if self.fields[form_name].conditional and not self.cleaned_data.get(form_name) and form_name not in self.errors:
                self.add_error(form_name, REQUIRED)
                ok = False
        return ok

    def credential_field_for(self, auth_name: str, key: str) -> str | None:
        return dict(self.credentials.get(auth_name, [])).get(key)


ROW_ERROR_RE = re.compile(r"^(parameters|scopes)\[(\d+)\]\.(\w+)$")


class CustomServicePage:
    """The forms of a custom-service page, bound together.

    The service fields, the parameter rows and scope rows (formsets, so rows can be added
    without JavaScript) and, on the create page, the connection's names and credentials.
    """

    def __init__(
        self, data=None, *, organisation=None, editing=None, with_connection: bool = True, add_row: str | None = None,
        callback_urls: dict[str, str] | None = None,
    ):
        self.editing = editing
        self.definition: ServiceDefinition | None = None
        definition = editing.definition if editing is not None else {}
        if data is not None and add_row in ("param", "scope"):
            data = data.copy()
            key = f"{add_row}-TOTAL_FORMS"
            try:
                data[key] = str(min(int(data.get(key, "0")) + 1, 50))
            except ValueError:
                pass
        self.service = CustomServiceForm(data, editing=editing, organisation=organisation, callback_urls=callback_urls)
        param_class = ParameterValueFormSet if with_connection else ParameterFormSet
        param_initial = [{"key": p["key"], "display_name": p["display_name"]} for p in definition.get("parameters") or []]
        scope_initial = [{"name": s["name"], "display_name": s["display_name"]} for s in definition.get("scopes") or []]
        self.params = param_class(data, prefix="param", initial=param_initial or None)
        self.scopes = ScopeFormSet(data, prefix="scope", initial=scope_initial or None)
        if data is None:
            self.params.extra = 1 if param_initial else 2
            self.scopes.extra = 1 if scope_initial else 2
        self.connection = NewConnectionForm(data, organisation=organisation) if with_connection else None

    # -- what the template asks the registry -------------------------------------------
    parameter_types = property(lambda self: auth_types_where(lambda cls: cls.takes_parameters))
    scope_types = property(lambda self: auth_types_where(lambda cls: cls.asks_scopes))
    consent_types = property(lambda self: auth_types_where(lambda cls: bool(cls.client_fields)))

    @property
    def parameter_help(self) -> str:
        help_text = "The credential fields each connection fills in: the key they travel under, and the name people see."
        return f"{help_text} The value is this connection's secret." if self.connection is not None else help_text

    @property
    def parts(self) -> list:
        return [p for p in (self.service, self.params, self.scopes, self.connection) if p is not None]

    def is_valid(self) -> bool:
        # Lists, not "and": every check runs, so that every mistake shows at once.
        checks = [p.is_valid() for p in self.parts]
        checks += [self._check_definition(), self._check_rows_and_credentials()]
        return all(checks)

    def _check_definition(self) -> bool:
        """Judge the service with its definition, and invoke's rules, onto the fields."""
        auth = self.service.auth
        if auth is None:
            return False
        data = self.service_data()
        if self.editing is not None:
            data = merge_changes(self.editing.definition, data)  # options the page does not show are kept
        errors: dict[str, list[str]] = {}
        try:
            self.definition = ServiceDefinition.from_dict(data, source="custom service", kind="custom")
        except SchemaError as exc:
            errors = exc.errors
        for name, message in [*self.service.client_missing(self.definition, data).items(), *upstream_refusals(data).items()]:
            errors.setdefault(name, []).append(message)
        for name, messages in errors.items():
            for message in messages:
                self._add_service_error(name, message, typed_over=True)
        if errors:
            self.definition = None
        return not errors

    def _check_rows_and_credentials(self) -> bool:
        """What needs more than one part: rows repeated, and the connection's values."""
        auth = self.service.auth
        ok = True
        if auth is not None and auth.takes_parameters:
            ok = self.params.check_unique() and ok
            for _i, row in self.params.rows() if self.connection is not None else ():
                if "value" in row.fields and not row.cleaned_data.get("value"):
                    row.add_error("value", REQUIRED)
                    ok = False
        if auth is not None and auth.asks_scopes:
            ok = self.scopes.check_unique() and ok
        if auth is not None and self.connection is not None:
            ok = self.connection.check_credentials(auth.name) and ok
        return ok

    def error_list(self) -> list[tuple[str, str, str]]:
        return error_summary(*self.parts)

    def non_field_errors(self) -> list[str]:
        """Errors that belong to no single field, for the summary above the form."""
        out = [*self.service.non_field_errors(), *self.params.non_form_errors(), *self.scopes.non_form_errors()]
        if self.connection is not None:
            out.extend(self.connection.non_field_errors())
        return out

    def quiet(self) -> None:
        quiet(*self.parts)

    @property
    def has_errors(self) -> bool:
        return any(bool(p.errors) if isinstance(p, forms.BaseForm) else (p.total_error_count() > 0) for p in self.parts)

    # -- what the business functions take ----------------------------------------------
    def service_data(self) -> dict:
        return self.service.service_data(parameters=self.params.items(), scopes=self.scopes.items())

    def connection_arguments(self) -> dict:
        auth = self.service.auth
        c = self.connection.cleaned_data
        credentials = None
        if auth.name in self.connection.credentials:  # typed (Basic's user name and password)
            credentials = self.connection.typed_credentials(auth.name)
        if auth.takes_parameters:  # the rows' values (API keys; Basic's extra secrets)
            rows = {f.cleaned_data["key"]: f.cleaned_data.get("value") or "" for _i, f in self.params.rows() if f.cleaned_data["key"]}
            credentials = {**(credentials or {}), **rows}
        scopes = [item["name"] for item in self.scopes.items()] if auth.asks_scopes else None
        return {"name": c["name"], "link_name": c["link_name"], "credentials": credentials, "scopes": scopes}

    # -- domain errors back onto the forms ------------------------------------------------
    def add_domain_error(self, exc: ConnectionsError) -> None:
        if not exc.fields:
            self.service.add_error(None, exc.message)
            return
        for name, messages in exc.fields.items():
            for message in messages:
                if name.startswith("service.") or self.connection is None:
                    self._add_service_error(name.removeprefix("service."), message)
                else:
                    self._add_connection_error(name, message)

    def _add_service_error(self, name: str, message: str, *, typed_over: bool = False) -> None:
        """Put an error of the service definition next to its field or row. ``typed_over``:
        the page's own check already said what is wrong with that field; keep that one."""
        match = ROW_ERROR_RE.match(name)
        if match:
            formset = self.params if match.group(1) == "parameters" else self.scopes
            rows = formset.rows()
            index, field = int(match.group(2)), match.group(3)
            if index < len(rows) and field in rows[index][1].fields:
                row = rows[index][1]
                if not (typed_over and row.errors.get(field)) and message not in row.errors.get(field, []):
                    row.add_error(field, message)
                return
        if name in ("parameters", "scopes", "default_scopes"):
            formset = self.params if name == "parameters" else self.scopes
            formset.non_form_errors().append(message)
            return
        target = self.service.field_for(name)
        if typed_over and target is not None and self.service.errors.get(target):
            return
        self.service.add_domain_error(ConnectionsError(message, fields={name: [message]}))

    def _add_connection_error(self, name: str, message: str) -> None:
        auth = self.service.auth
        if name.startswith("credentials.") and auth is not None:
            key = name.removeprefix("credentials.")
            if auth.takes_parameters:
                for _i, form in self.params.rows():
                    if form.cleaned_data["key"] == key:
                        form.add_error("value", message)
                        return
            target = self.connection.credential_field_for(auth.name, key)
            if target is not None:
                self.connection.add_error(target, message)
                return
        if name == "scopes":
            self.scopes.non_form_errors().append(message)
            return
        self.connection.add_domain_error(ConnectionsError(message, fields={name: [message]}))
