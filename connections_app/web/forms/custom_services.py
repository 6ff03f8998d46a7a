"""The custom-service page: a service's fields, its parameter and scope rows, and on the
create page the first connection's names and credentials, validated together in one pass.

Everything a person can get wrong is checked here, at once: what each authentication
type requires, URL shapes, host names, rows, both link names (taken or not), the
connection's credentials, and the rules invoke applies to every call later (ports other
than 80/443 and private addresses are refused unless CONNECTIONS_ALLOW_PRIVATE_NETWORKS
is on). The business functions check again; what they find comes back onto the fields.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django import forms
from django.conf import settings

from services_catalog.fields import HOST_RE
from services_catalog.schema import SIGNATURE_METHODS

from ... import http, selectors
from ...errors import ConnectionsError, HostNotAllowed, ValidationFailed
from .base import (
    CUSTOM_AUTH_TYPE_CHOICES,
    PARAM_TYPE_CHOICES,
    SECRET_KEEP_HELP,
    DomainErrorsMixin,
    LinkNameField,
    connection_link_name,
    error_summary,
    quiet,
    secret_input,
)

GRANT_TYPE_CHOICES = [("authorization_code", "Authorization code (a person gives consent)"), ("client_credentials", "Client credentials (no consent)")]
DELIMITER_CHOICES = [(" ", "Space"), (",", "Comma (,)"), ("+", "Plus (+)"), (";", "Semicolon (;)")]
REQUIRED = "This field is required."
URL_MESSAGE = "Must be an absolute http(s) URL."
# What each authentication type needs besides the common fields.
REQUIRED_BY_AUTH = {
    "oauth2": ("oauth2_client_id", "oauth2_token_url"),
    "oauth1": ("oauth1_consumer_key", "oauth1_request_token_url", "oauth1_authorize_url", "oauth1_access_token_url"),
}
URL_FIELDS = {
    None: ("base_url", "sample_url"),
    "oauth2": ("oauth2_authorize_url", "oauth2_token_url", "oauth2_refresh_url", "oauth2_revoke_url"),
    "oauth1": ("oauth1_request_token_url", "oauth1_authorize_url", "oauth1_access_token_url"),
}


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


class ParameterRowForm(forms.Form):
    columns = {"key": "Parameter key"}
    key = forms.CharField(label="Key", max_length=100, required=False, widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "placeholder": "e.g. X-Api-Key"}))
    display_name = forms.CharField(label="Display name", max_length=100, required=False, widget=forms.TextInput(attrs={"placeholder": "e.g. API key"}))

    def has_content(self) -> bool:
        return bool(self.cleaned_data.get("key") or self.cleaned_data.get("display_name")) and not self.cleaned_data.get("DELETE")


class ParameterValueRowForm(ParameterRowForm):
    """A parameter row on the create page, which also takes this connection's value."""

    value = forms.CharField(label="Value for this connection", max_length=4096, required=False, strip=False, widget=secret_input())


class ScopeRowForm(forms.Form):
    columns = {"name": "Scope"}
    name = forms.CharField(label="Name", max_length=300, required=False, widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "placeholder": "e.g. contacts.read"}))
    display_name = forms.CharField(label="Display name", max_length=200, required=False, widget=forms.TextInput(attrs={"placeholder": "e.g. Read contacts"}))

    def has_content(self) -> bool:
        return bool(self.cleaned_data.get("name") or self.cleaned_data.get("display_name")) and not self.cleaned_data.get("DELETE")


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


class ParameterRows(RowFormSet):
    noun = "Parameter"


class ScopeRows(RowFormSet):
    noun = "Scope"


ParameterFormSet = forms.formset_factory(ParameterRowForm, formset=ParameterRows, extra=0, can_delete=True, max_num=50, absolute_max=60)
ParameterValueFormSet = forms.formset_factory(ParameterValueRowForm, formset=ParameterRows, extra=0, can_delete=True, max_num=50, absolute_max=60)
ScopeFormSet = forms.formset_factory(ScopeRowForm, formset=ScopeRows, extra=0, can_delete=True, max_num=100, absolute_max=110)


class CustomServiceForm(DomainErrorsMixin, forms.Form):
    """The service part of a custom service: the same fields on create and on edit."""

    service_name = forms.CharField(label="Service name", max_length=100, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    service_link_name = LinkNameField(label="Service link name", help_text="Lower case letters, digits and _; it never changes.")
    auth_type = forms.ChoiceField(label="Authentication type", choices=CUSTOM_AUTH_TYPE_CHOICES, initial="api_key")
    param_type = forms.ChoiceField(
        label="Parameter type", choices=PARAM_TYPE_CHOICES, initial="header",
        help_text="Where the credentials travel on each call. Basic authentication always uses a header.",
    )
    base_url = forms.CharField(label="Base URL", required=False, max_length=2000, widget=forms.URLInput(attrs={"placeholder": "https://api.example.com/v1"}), help_text="Paths such as /me in scripts are resolved against it.")
    allowed_hosts = forms.CharField(
        label="Allowed hosts", required=False, max_length=2000,
        widget=forms.TextInput(attrs={"placeholder": "api.example.com *.example.com", "spellcheck": "false"}),
        help_text="The only hosts the credentials are ever sent to, separated by spaces or commas. Empty: the host of the base URL. A leading *. allows subdomains.",
    )
    sample_url = forms.CharField(label="Sample URL", required=False, max_length=2000, widget=forms.URLInput(), help_text="Used in the code snippets.")
    verify_path = forms.CharField(label="Test request path", required=False, max_length=2000, help_text="A cheap GET request, such as /v1/me, that “Test connection” runs.")
    # OAuth 2.0
    oauth2_grant_type = forms.ChoiceField(label="Grant type", choices=GRANT_TYPE_CHOICES, initial="authorization_code", required=False)
    oauth2_client_id = forms.CharField(label="Client ID", required=False, max_length=500, widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
    oauth2_client_secret = forms.CharField(label="Client secret", required=False, max_length=2000, strip=False, widget=secret_input())
    oauth2_authorize_url = forms.CharField(label="Authorize URL", required=False, max_length=2000, widget=forms.URLInput())
    oauth2_token_url = forms.CharField(label="Access token URL", required=False, max_length=2000, widget=forms.URLInput())
    oauth2_refresh_url = forms.CharField(label="Refresh token URL", required=False, max_length=2000, widget=forms.URLInput(), help_text="Empty: the access token URL.")
    oauth2_revoke_url = forms.CharField(label="Revoke token URL", required=False, max_length=2000, widget=forms.URLInput())
    oauth2_scope_delimiter = forms.ChoiceField(label="Scope delimiter", choices=DELIMITER_CHOICES, initial=" ", required=False)
    oauth2_pkce = forms.BooleanField(label="Use PKCE (S256)", required=False, initial=True)
    # OAuth 1.0a
    oauth1_consumer_key = forms.CharField(label="Consumer key", required=False, max_length=500, widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
    oauth1_consumer_secret = forms.CharField(label="Consumer secret", required=False, max_length=2000, strip=False, widget=secret_input())
    oauth1_request_token_url = forms.CharField(label="Request token URL", required=False, max_length=2000, widget=forms.URLInput())
    oauth1_authorize_url = forms.CharField(label="Authorize URL", required=False, max_length=2000, widget=forms.URLInput())
    oauth1_access_token_url = forms.CharField(label="Access token URL", required=False, max_length=2000, widget=forms.URLInput())
    oauth1_signature_method = forms.ChoiceField(label="Signature method", choices=[(m, m) for m in SIGNATURE_METHODS], initial="HMAC-SHA1", required=False)

    SECRET_FIELDS = ("oauth2_client_secret", "oauth1_consumer_secret")
    # Required only for some authentication types: no "(optional)" next to their labels.
    CONDITIONAL = (
        "base_url", "oauth2_grant_type", "oauth2_client_id", "oauth2_client_secret", "oauth2_authorize_url",
        "oauth2_token_url", "oauth2_scope_delimiter", "oauth1_consumer_key", "oauth1_consumer_secret",
        "oauth1_request_token_url", "oauth1_authorize_url", "oauth1_access_token_url", "oauth1_signature_method",
    )

    def __init__(self, *args, editing=None, organisation=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.editing = editing
        self.organisation = organisation
        for name in self.CONDITIONAL:
            self.fields[name].conditional = True
        self.fields["service_link_name"].widget.attrs.update({"data-linkname-from": "id_service_name", "data-linkname-kind": "service"})
        if editing is not None:
            # The link name of a service never changes: shown, not editable, not posted.
            del self.fields["service_link_name"]
            for name in self.SECRET_FIELDS:
                self.fields[name].help_text = SECRET_KEEP_HELP if editing.client_secret_encrypted else ""

    def clean_service_link_name(self):
        value = self.cleaned_data["service_link_name"]
        owner = self.organisation and selectors.service_link_name_owner(organisation=self.organisation, link_name=value)
        if owner:
            raise forms.ValidationError(f"The link name {value!r} is taken by a{'' if owner == 'custom' else ' preconfigured'} service.")
        return value

    def clean(self):
        """Check what the chosen authentication type needs and every URL and host, at once."""
        data = super().clean()
        auth_type = data.get("auth_type")
        required = list(REQUIRED_BY_AUTH.get(auth_type, ()))
        if auth_type == "oauth2" and (data.get("oauth2_grant_type") or "authorization_code") == "authorization_code":
            required.append("oauth2_authorize_url")
        if auth_type in self.SECRET_BY_AUTH and not (self.editing is not None and self.editing.client_secret_encrypted):
            required.append(self.SECRET_BY_AUTH[auth_type])
        for name in required:
            if not data.get(name) and name not in self.errors:
                self.add_error(name, REQUIRED)
        urls = [*URL_FIELDS[None], *URL_FIELDS.get(auth_type, ())]
        for name in urls:
            value = data.get(name)
            if not value or name in self.errors:
                continue
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                self.add_error(name, URL_MESSAGE)
            elif parts.username or parts.password:
                self.add_error(name, "Must not contain a user name or password.")
            elif refusal := upstream_refusal(value):
                self.add_error(name, refusal)
        hosts = split_hosts(data.get("allowed_hosts"))
        for host in hosts:
            h = host.lower()
            if not HOST_RE.match(h) or ".." in h or "*" in h[1:] or "{" in h:
                self.add_error("allowed_hosts", f"{host!r} is not a host name (a leading '*.' allows subdomains).")
            elif refusal := upstream_refusal(f"https://{h.removeprefix('*.')}/"):
                self.add_error("allowed_hosts", f"{host}: {refusal}")
        if not hosts and not data.get("base_url") and not data.get("sample_url") and "base_url" not in self.errors:
            self.add_error("allowed_hosts", "Name at least one allowed host (or give a base URL).")
        if auth_type == "basic" and data.get("param_type") not in (None, "header"):
            self.add_error("param_type", "Basic authentication travels in a header; use param_type: header.")
        return data

    SECRET_BY_AUTH = {"oauth2": "oauth2_client_secret", "oauth1": "oauth1_consumer_secret"}

    # Service-step errors arrive as ``service.<field>`` (create) or ``<field>`` (edit).
    SCHEMA_FIELDS = {
        "link_name": "service_link_name", "name": "service_name", "auth_type": "auth_type", "param_type": "param_type",
        "base_url": "base_url", "allowed_hosts": "allowed_hosts", "sample_url": "sample_url", "verify": "verify_path",
        "verify.path": "verify_path",
    }

    def field_for(self, name: str) -> str | None:
        name = name.removeprefix("service.")
        name = re.sub(r"\[\d+\]$", "", name)  # allowed_hosts[2] -> allowed_hosts
        if name in self.SCHEMA_FIELDS:
            return super().field_for(self.SCHEMA_FIELDS[name])
        if name.startswith(("oauth2.", "oauth1.")):
            return super().field_for(name.replace(".", "_", 1))
        if name in ("oauth2", "oauth1"):
            return None
        return super().field_for(name)

    def service_data(self, *, parameters: list[dict], scopes: list[dict]) -> dict:
        """Return the custom service as ``services.custom_service_create/update`` take it."""
        d = self.cleaned_data
        auth_type = d["auth_type"]
        hosts = [h for h in re.split(r"[\s,]+", d.get("allowed_hosts") or "") if h]
        data = {
            "name": d["service_name"],
            "auth_type": auth_type,
            "param_type": d["param_type"],
            "base_url": d.get("base_url") or None,
            "allowed_hosts": hosts or None,
            "sample_url": d.get("sample_url") or None,
            "verify": {"method": "GET", "path": d["verify_path"]} if d.get("verify_path") else None,
            "parameters": parameters if auth_type == "api_key" else [],
            # OAuth 1.0a has no scopes in its flow; only OAuth 2 services take them here.
            "scopes": scopes if auth_type == "oauth2" else [],
            "default_scopes": [s["name"] for s in scopes] if auth_type == "oauth2" else [],
            "oauth2": None,
            "oauth1": None,
        }
        if self.editing is None:
            data["link_name"] = d["service_link_name"]
        if auth_type == "oauth2":
            data["oauth2"] = {
                "grant_type": d.get("oauth2_grant_type") or "authorization_code",
                "client_id": d.get("oauth2_client_id") or None,
                "authorize_url": d.get("oauth2_authorize_url") or None,
                "token_url": d.get("oauth2_token_url") or None,
                "refresh_url": d.get("oauth2_refresh_url") or None,
                "revoke_url": d.get("oauth2_revoke_url") or None,
                "scope_delimiter": d.get("oauth2_scope_delimiter") or " ",
                "pkce": bool(d.get("oauth2_pkce")),
            }
            if d.get("oauth2_client_secret"):
                data["oauth2"]["client_secret"] = d["oauth2_client_secret"]
        elif auth_type == "oauth1":
            data["oauth1"] = {
                "consumer_key": d.get("oauth1_consumer_key") or None,
                "request_token_url": d.get("oauth1_request_token_url") or None,
                "authorize_url": d.get("oauth1_authorize_url") or None,
                "access_token_url": d.get("oauth1_access_token_url") or None,
                "signature_method": d.get("oauth1_signature_method") or "HMAC-SHA1",
            }
            if d.get("oauth1_consumer_secret"):
                data["oauth1"]["consumer_secret"] = d["oauth1_consumer_secret"]
        return data

    @staticmethod
    def initial_from(definition: dict) -> dict:
        """Return the form's initial values for a stored definition (never a secret)."""
        oauth2 = definition.get("oauth2") or {}
        oauth1 = definition.get("oauth1") or {}
        verify = definition.get("verify") or {}
        hosts = list(definition.get("allowed_hosts") or [])
        source = definition.get("base_url") or definition.get("sample_url") or ""
        if hosts == [(urlsplit(source).hostname or "").lower()]:
            hosts = []  # the default: shown empty, so a new base URL brings its own host
        initial = {
            "service_name": definition.get("name"), "service_link_name": definition.get("link_name"),
            "auth_type": definition.get("auth_type"), "param_type": definition.get("param_type"),
            "base_url": definition.get("base_url") or "", "allowed_hosts": " ".join(hosts),
            "sample_url": definition.get("sample_url") or "", "verify_path": verify.get("path") or "",
            "oauth2_pkce": oauth2.get("pkce", True),
        }
        for key in ("grant_type", "client_id", "authorize_url", "token_url", "refresh_url", "revoke_url", "scope_delimiter"):
            if oauth2.get(key) is not None:
                initial[f"oauth2_{key}"] = oauth2[key]
        for key in ("consumer_key", "request_token_url", "authorize_url", "access_token_url", "signature_method"):
            if oauth1.get(key) is not None:
                initial[f"oauth1_{key}"] = oauth1[key]
        return initial


class NewConnectionForm(DomainErrorsMixin, forms.Form):
    """The connection part of the custom-service page: names, and Basic credentials."""

    name = forms.CharField(label="Connection name", max_length=100, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    link_name = LinkNameField(
        label="Connection link name",
        help_text="Scripts use it (connection: \"…\"). Lower case letters, digits and _; it never changes.",
    )
    basic_username = forms.CharField(label="User name", required=False, max_length=4096, strip=False, widget=secret_input())
    basic_password = forms.CharField(label="Password", required=False, max_length=4096, strip=False, widget=secret_input())

    def __init__(self, *args, organisation=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.organisation = organisation
        self.fields["link_name"].widget.attrs["data-linkname-from"] = "id_name"
        self.fields["basic_username"].conditional = self.fields["basic_password"].conditional = True

    def clean_link_name(self):
        value = connection_link_name(self.cleaned_data["link_name"])
        if self.organisation is not None and selectors.connection_link_name_taken(organisation=self.organisation, link_name=value):
            raise forms.ValidationError(f"The link name {value!r} is already used by another connection.")
        return value

    def field_for(self, name: str) -> str | None:
        if name in ("credentials.username", "credentials.password"):
            return "basic_" + name.removeprefix("credentials.")
        return super().field_for(name)


ROW_ERROR_RE = re.compile(r"^(parameters|scopes)\[(\d+)\]\.(\w+)$")


class CustomServicePage:
    """The forms of a custom-service page, bound together.

    The service fields, the parameter rows and scope rows (formsets, so rows can be added
    without JavaScript) and, on the create page, the connection's names and credentials.
    """

    def __init__(self, data=None, *, organisation=None, editing=None, with_connection: bool = True, add_row: str | None = None):
        self.editing = editing
        definition = editing.definition if editing is not None else {}
        if data is not None and add_row in ("param", "scope"):
            data = data.copy()
            key = f"{add_row}-TOTAL_FORMS"
            try:
                data[key] = str(min(int(data.get(key, "0")) + 1, 50))
            except ValueError:
                pass
        initial = CustomServiceForm.initial_from(definition) if editing is not None else None
        self.service = CustomServiceForm(data, editing=editing, organisation=organisation, initial=initial)
        param_class = ParameterValueFormSet if with_connection else ParameterFormSet
        param_initial = [{"key": p["key"], "display_name": p["display_name"]} for p in definition.get("parameters") or []]
        scope_initial = [{"name": s["name"], "display_name": s["display_name"]} for s in definition.get("scopes") or []]
        self.params = param_class(data, prefix="param", initial=param_initial or None)
        self.scopes = ScopeFormSet(data, prefix="scope", initial=scope_initial or None)
        if data is None:
            self.params.extra = 1 if param_initial else 2
            self.scopes.extra = 1 if scope_initial else 2
        self.connection = NewConnectionForm(data, organisation=organisation) if with_connection else None

    @property
    def parts(self) -> list:
        return [p for p in (self.service, self.params, self.scopes, self.connection) if p is not None]

    def is_valid(self) -> bool:
        valid = all([p.is_valid() for p in self.parts])  # a list: validate every part
        return self._check_rows_and_credentials() and valid

    def _check_rows_and_credentials(self) -> bool:
        """What needs more than one part: the rows an auth type needs and the credentials."""
        auth_type = self.service.cleaned_data.get("auth_type")
        ok = True
        if auth_type == "api_key":
            rows = self.params.rows()
            if not rows:
                self.params.non_form_errors().append("An API key service needs at least one parameter.")
                ok = False
            seen = set()
            for _i, row in rows:
                key = row.cleaned_data.get("key") or ""
                if not key:
                    row.add_error("key", REQUIRED)
                elif not re.fullmatch(r"[A-Za-z0-9_.\-]{1,100}", key):
                    row.add_error("key", "Use letters, digits, '_', '-' or '.'.")
                elif key.lower() in seen:
                    row.add_error("key", f"Duplicate key {key!r}.")
                seen.add(key.lower())
                if self.connection is not None and "value" in row.fields and not row.cleaned_data.get("value"):
                    row.add_error("value", REQUIRED)
                ok = ok and not row.errors
        if auth_type == "oauth2":
            seen = set()
            for _i, row in self.scopes.rows():
                name = row.cleaned_data.get("name") or ""
                if not name:
                    row.add_error("name", REQUIRED)
                elif any(c.isspace() for c in name):
                    row.add_error("name", "Must not contain white space.")
                elif name in seen:
                    row.add_error("name", f"Duplicate scope {name!r}.")
                seen.add(name)
                ok = ok and not row.errors
        if auth_type == "basic" and self.connection is not None:
            for name in ("basic_username", "basic_password"):
                if not self.connection.cleaned_data.get(name) and name not in self.connection.errors:
                    self.connection.add_error(name, REQUIRED)
                    ok = False
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
    def _parameter_rows(self):
        return self.params.rows()

    def _scope_rows(self):
        return self.scopes.rows()

    def service_data(self) -> dict:
        parameters = [
            {"key": f.cleaned_data["key"], "display_name": f.cleaned_data["display_name"] or f.cleaned_data["key"]}
            for _i, f in self._parameter_rows()
        ]
        scopes = [
            {"name": f.cleaned_data["name"], "display_name": f.cleaned_data["display_name"] or f.cleaned_data["name"]}
            for _i, f in self._scope_rows()
        ]
        return self.service.service_data(parameters=parameters, scopes=scopes)

    def connection_arguments(self) -> dict:
        auth_type = self.service.cleaned_data["auth_type"]
        c = self.connection.cleaned_data
        credentials = None
        scopes = None
        if auth_type == "api_key":
            credentials = {f.cleaned_data["key"]: f.cleaned_data.get("value") or "" for _i, f in self._parameter_rows() if f.cleaned_data["key"]}
        elif auth_type == "basic":
            credentials = {"username": c.get("basic_username") or "", "password": c.get("basic_password") or ""}
        elif auth_type == "oauth2":
            scopes = [f.cleaned_data["name"] for _i, f in self._scope_rows() if f.cleaned_data["name"]]
        return {"name": c["name"], "link_name": c["link_name"], "credentials": credentials, "scopes": scopes}

    # -- domain errors back onto the forms ------------------------------------------------
    def add_domain_error(self, exc: ConnectionsError) -> None:
        if not exc.fields:
            self.service.add_error(None, exc.message)
            return
        for name, messages in exc.fields.items():
            for message in messages:
                self._add_one(name, message)

    def _add_one(self, name: str, message: str) -> None:
        service_step = name.startswith("service.") or self.connection is None
        bare = name.removeprefix("service.")
        if service_step:
            match = ROW_ERROR_RE.match(bare)
            if match:
                formset = self.params if match.group(1) == "parameters" else self.scopes
                rows = formset.rows()
                index, field = int(match.group(2)), match.group(3)
                if index < len(rows) and field in rows[index][1].fields:
                    rows[index][1].add_error(field, message)
                    return
            if bare in ("parameters", "scopes", "default_scopes"):
                formset = self.params if bare == "parameters" else self.scopes
                formset.non_form_errors().append(message)
                return
            self.service.add_domain_error(ConnectionsError(message, fields={bare: [message]}))
            return
        # The connection step.
        if name.startswith("credentials.") and self.service.cleaned_data.get("auth_type") == "api_key":
            key = name.removeprefix("credentials.")
            for _i, form in self.params.rows():
                if form.cleaned_data["key"] == key:
                    form.add_error("value", message)
                    return
        if name == "scopes":
            self.scopes.non_form_errors().append(message)
            return
        self.connection.add_domain_error(ConnectionsError(message, fields={name: [message]}))
