"""Forms of the browser pages.

They check the shape of what a person typed (required fields, the link-name rule) so that
every mistake shows at once; the business functions check the meaning and their
``ValidationFailed.fields`` come back onto these forms through ``add_domain_error``.
Secrets use password inputs that never render a value back.
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

from django import forms
from django.core.validators import RegexValidator
from django.forms.utils import ErrorDict, ErrorList
from django.utils import timezone

from services_catalog.schema import LINK_NAME_RE, SIGNATURE_METHODS, ServiceDefinition

from ..accounts import LINK_NAME_MESSAGE, RESERVED_CONNECTION_LINK_NAMES
from ..errors import ConnectionsError
from ..models import ConnectionStatus, TokenAction

link_name_validator = RegexValidator(LINK_NAME_RE, LINK_NAME_MESSAGE)

AUTH_TYPE_CHOICES = [("api_key", "API key"), ("basic", "Basic authentication"), ("oauth1", "OAuth 1"), ("oauth2", "OAuth 2")]
PARAM_TYPE_CHOICES = [("query", "Query string"), ("form", "Form data"), ("header", "Header")]
AUTH_TYPE_LABELS = dict(AUTH_TYPE_CHOICES)
PARAM_TYPE_LABELS = dict(PARAM_TYPE_CHOICES)
GRANT_TYPE_CHOICES = [("authorization_code", "Authorization code (a person gives consent)"), ("client_credentials", "Client credentials (no consent)")]
DELIMITER_CHOICES = [(" ", "Space"), (",", "Comma (,)"), ("+", "Plus (+)"), (";", "Semicolon (;)")]
STATUS_CHOICES = [("", "Any status"), *ConnectionStatus.choices]
SECRET_KEEP_HELP = "Leave empty to keep the secret that is stored."


def secret_input(**attrs) -> forms.PasswordInput:
    """A password input that never renders a value, whatever the form holds."""
    return forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password", "spellcheck": "false", **attrs})


class SecretTextarea(forms.Textarea):
    """A text area for a key file or PEM key that, like ``secret_input``, never renders a value."""

    def format_value(self, value):
        return None


def credential_input(parameter) -> forms.Widget:
    if getattr(parameter, "multiline", False):
        return SecretTextarea(attrs={"rows": 6, "autocomplete": "off", "spellcheck": "false"})
    return secret_input()


def quiet(*forms_or_formsets) -> None:
    """Show bound forms without validating them (the "Add another row" round trip)."""
    for item in forms_or_formsets:
        if isinstance(item, forms.BaseForm):
            item._errors = ErrorDict()
        else:
            item._errors = [ErrorDict() for _ in item.forms]
            item._non_form_errors = ErrorList()
            for form in item.forms:
                form._errors = ErrorDict()


class DomainErrorsMixin:
    """Put a domain error's fields next to the form's fields; the rest above the form."""

    def field_for(self, name: str) -> str | None:
        return name if name in self.fields else None

    def add_domain_error(self, exc: ConnectionsError) -> None:
        if not exc.fields:
            self.add_error(None, exc.message)
            return
        for name, messages in exc.fields.items():
            target = self.field_for(name)
            for message in messages:
                if target is None:
                    self.add_error(None, message if name in ("service", "") else f"{name}: {message}")
                else:
                    self.add_error(target, message)


class LinkNameField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 50)
        kwargs.setdefault("validators", [link_name_validator])
        super().__init__(**kwargs)
        self.widget.attrs.update({"autocomplete": "off", "spellcheck": "false", "autocapitalize": "none", "pattern": LINK_NAME_RE.pattern})


def connection_link_name(value: str) -> str:
    if value in RESERVED_CONNECTION_LINK_NAMES:
        raise forms.ValidationError("This link name is reserved; choose another.")
    return value


# -- My Connections ----------------------------------------------------------------------
class ConnectionFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search", max_length=100, widget=forms.TextInput(attrs={"type": "search", "placeholder": "Name or link name"}))
    status = forms.ChoiceField(required=False, choices=STATUS_CHOICES, label="Status")


class ServiceFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search services", max_length=100, widget=forms.TextInput(attrs={"type": "search", "placeholder": "e.g. Zoho, GitHub"}))
    auth_type = forms.ChoiceField(required=False, choices=[("", "Any authentication"), *AUTH_TYPE_CHOICES], label="Authentication")


# -- Connection details (a chosen service) -------------------------------------------------
class ConnectionDetailsForm(DomainErrorsMixin, forms.Form):
    """Name, link name, and what the chosen service asks for: scopes, config, credentials."""

    name = forms.CharField(label="Connection name", max_length=100)
    link_name = LinkNameField(
        label="Connection link name",
        help_text="Scripts use it (connection: \"…\"). Lower case letters, digits and _; it never changes.",
    )

    def __init__(self, *args, service: ServiceDefinition, **kwargs):
        super().__init__(*args, **kwargs)
        self.service = service
        self.credential_keys: list[str] = []
        self.fields["link_name"].widget.attrs["data-linkname-from"] = "id_name"
        self.fields["name"].widget.attrs["autocomplete"] = "off"
        consent = not (service.oauth2 and service.oauth2.grant_type == "client_credentials")
        if service.is_oauth and service.scopes:
            self.fields["scopes"] = forms.MultipleChoiceField(
                label="Scopes", required=False, widget=forms.CheckboxSelectMultiple,
                choices=[(s.name, s.display_name) for s in service.scopes], initial=list(service.default_scopes),
                help_text="What this connection may do. See the service's API documentation for each scope.",
            )
        elif service.is_oauth and consent:
            self.fields["scopes_text"] = forms.CharField(
                label="Scopes", required=False, max_length=2000,
                help_text="Scope names separated by spaces, as the service's documentation lists them.",
            )
        for field in service.config_fields:
            if field.choices:
                formfield = forms.ChoiceField(label=field.display_name, choices=[(c, c) for c in field.choices], initial=field.default)
            else:
                formfield = forms.CharField(label=field.display_name, initial=field.default, max_length=63)
            self.fields[f"config_{field.name}"] = formfield
        for index, parameter in enumerate(service.credential_fields()):
            self.credential_keys.append(parameter.key)
            self.fields[f"credential_{index}"] = forms.CharField(
                label=parameter.display_name, strip=False, max_length=16384 if getattr(parameter, "multiline", False) else 4096,
                widget=credential_input(parameter), required=getattr(parameter, "required", True),
                help_text=f"Sent as {parameter.key}." if service.auth_type == "api_key" else "",
            )

    def clean_link_name(self):
        return connection_link_name(self.cleaned_data["link_name"])

    @property
    def scope_fields(self):
        return [self[n] for n in ("scopes", "scopes_text") if n in self.fields]

    @property
    def config_fields(self):
        return [self[n] for n in self.fields if n.startswith("config_")]

    @property
    def credential_fields(self):
        return [self[n] for n in self.fields if n.startswith("credential_")]

    def call_arguments(self) -> dict:
        """Return the keyword arguments for ``services.connection_create`` (minus who/where)."""
        data = self.cleaned_data
        if "scopes" in self.fields:
            scopes = list(data.get("scopes") or [])
        elif "scopes_text" in self.fields:
            scopes = (data.get("scopes_text") or "").split()
        else:
            scopes = None
        config = {f.name: data.get(f"config_{f.name}") for f in self.service.config_fields} or None
        credentials = {key: data.get(f"credential_{i}") for i, key in enumerate(self.credential_keys)} or None
        return {"name": data["name"], "link_name": data["link_name"], "service": self.service.link_name,
                "scopes": scopes, "config": config, "credentials": credentials}

    def field_for(self, name: str) -> str | None:
        if name == "scopes" and "scopes_text" in self.fields:
            return "scopes_text"
        if name.startswith("config."):
            return super().field_for("config_" + name.removeprefix("config."))
        if name.startswith("credentials."):
            key = name.removeprefix("credentials.")
            if key in self.credential_keys:
                return f"credential_{self.credential_keys.index(key)}"
            return None
        if name == "credentials" and self.credential_keys:
            return "credential_0"
        return super().field_for(name)


class ConnectionEditForm(DomainErrorsMixin, forms.Form):
    """Rename a connection, change its scopes, or replace its typed credentials."""

    name = forms.CharField(label="Connection name", max_length=100)

    def __init__(self, *args, service: ServiceDefinition, connection, **kwargs):
        super().__init__(*args, **kwargs)
        self.service = service
        self.credential_keys: list[str] = []
        self.fields["name"].initial = connection.name
        if service.is_oauth and service.scopes:
            self.fields["scopes"] = forms.MultipleChoiceField(
                label="Scopes", required=False, widget=forms.CheckboxSelectMultiple,
                choices=[(s.name, s.display_name) for s in service.scopes], initial=list(connection.scopes),
                help_text="Changing the scopes asks the provider for consent again.",
            )
        for index, parameter in enumerate(service.credential_fields()):
            self.credential_keys.append(parameter.key)
            self.fields[f"credential_{index}"] = forms.CharField(
                label=parameter.display_name, strip=False, required=False, max_length=4096, widget=credential_input(parameter),
                help_text=SECRET_KEEP_HELP,
            )

    @property
    def credential_fields(self):
        return [self[n] for n in self.fields if n.startswith("credential_")]

    def changes(self, connection) -> dict:
        data = self.cleaned_data
        out: dict = {}
        if data["name"] != connection.name:
            out["name"] = data["name"]
        if "scopes" in self.fields and set(data.get("scopes") or []) != set(connection.scopes):
            out["scopes"] = list(data.get("scopes") or [])
        credentials = {key: data[f"credential_{i}"] for i, key in enumerate(self.credential_keys) if data.get(f"credential_{i}")}
        if credentials:
            out["credentials"] = credentials
        return out

    def field_for(self, name: str) -> str | None:
        if name.startswith("credentials."):
            key = name.removeprefix("credentials.")
            return f"credential_{self.credential_keys.index(key)}" if key in self.credential_keys else None
        return super().field_for(name)


# -- Custom services ---------------------------------------------------------------------
class ParameterRowForm(forms.Form):
    key = forms.CharField(label="Parameter key", max_length=100, required=False, widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "placeholder": "e.g. X-Api-Key"}))
    display_name = forms.CharField(label="Display name", max_length=100, required=False, widget=forms.TextInput(attrs={"placeholder": "e.g. API key"}))

    def has_content(self) -> bool:
        return bool(self.cleaned_data.get("key") or self.cleaned_data.get("display_name")) and not self.cleaned_data.get("DELETE")


class ParameterValueRowForm(ParameterRowForm):
    """A parameter row on the create page, which also takes this connection's value."""

    value = forms.CharField(label="Value for this connection", max_length=4096, required=False, strip=False, widget=secret_input())


class ScopeRowForm(forms.Form):
    name = forms.CharField(label="Scope", max_length=300, required=False, widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "placeholder": "e.g. contacts.read"}))
    display_name = forms.CharField(label="Display name", max_length=200, required=False, widget=forms.TextInput(attrs={"placeholder": "e.g. Read contacts"}))

    def has_content(self) -> bool:
        return bool(self.cleaned_data.get("name") or self.cleaned_data.get("display_name")) and not self.cleaned_data.get("DELETE")


class RowFormSet(forms.BaseFormSet):
    deletion_widget = forms.CheckboxInput

    def add_fields(self, form, index):
        super().add_fields(form, index)
        if "DELETE" in form.fields:
            form.fields["DELETE"].label = "Remove"

    def rows(self) -> list[tuple[int, forms.Form]]:
        """Return (position in the formset, form) of the rows that hold something."""
        return [(i, f) for i, f in enumerate(self.forms) if f.is_valid() and f.has_content()]


ParameterFormSet = forms.formset_factory(ParameterRowForm, formset=RowFormSet, extra=0, can_delete=True, max_num=50, absolute_max=60)
ParameterValueFormSet = forms.formset_factory(ParameterValueRowForm, formset=RowFormSet, extra=0, can_delete=True, max_num=50, absolute_max=60)
ScopeFormSet = forms.formset_factory(ScopeRowForm, formset=RowFormSet, extra=0, can_delete=True, max_num=100, absolute_max=110)


class CustomServiceForm(DomainErrorsMixin, forms.Form):
    """The service part of a custom service: the same fields on create and on edit."""

    service_name = forms.CharField(label="Service name", max_length=100, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    service_link_name = LinkNameField(label="Service link name", help_text="Lower case letters, digits and _; it never changes.")
    auth_type = forms.ChoiceField(label="Authentication type", choices=AUTH_TYPE_CHOICES, initial="api_key")
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

    def __init__(self, *args, editing=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.editing = editing
        for name in self.CONDITIONAL:
            self.fields[name].conditional = True
        self.fields["service_link_name"].widget.attrs.update({"data-linkname-from": "id_service_name", "data-linkname-kind": "service"})
        if editing is not None:
            # The link name of a service never changes: shown, not editable, not posted.
            del self.fields["service_link_name"]
            for name in self.SECRET_FIELDS:
                self.fields[name].help_text = SECRET_KEEP_HELP if editing.client_secret_encrypted else ""

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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["link_name"].widget.attrs["data-linkname-from"] = "id_name"
        self.fields["basic_username"].conditional = self.fields["basic_password"].conditional = True

    def clean_link_name(self):
        return connection_link_name(self.cleaned_data["link_name"])

    def field_for(self, name: str) -> str | None:
        if name in ("credentials.username", "credentials.password"):
            return "basic_" + name.removeprefix("credentials.")
        return super().field_for(name)


class ServiceClientForm(DomainErrorsMixin, forms.Form):
    """An organisation's OAuth client for a preconfigured service."""

    client_id = forms.CharField(label="Client ID", max_length=2000, widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
    client_secret = forms.CharField(label="Client secret", max_length=2000, strip=False, widget=secret_input())

    def __init__(self, *args, oauth1: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.oauth1 = oauth1
        if oauth1:
            self.fields["client_id"].label = "Consumer key"
            self.fields["client_secret"].label = "Consumer secret"

    def data_for_service(self) -> dict:
        id_key, secret_key = ("consumer_key", "consumer_secret") if self.oauth1 else ("client_id", "client_secret")
        return {id_key: self.cleaned_data["client_id"], secret_key: self.cleaned_data["client_secret"]}

    def field_for(self, name: str) -> str | None:
        return {"consumer_key": "client_id", "consumer_secret": "client_secret"}.get(name) or super().field_for(name)


class ApiTokenForm(DomainErrorsMixin, forms.Form):
    """A token, optionally limited (least privilege for scripts and agents): nothing
    ticked means no limit of that kind, within your role."""

    EXPIRY_DAYS = (("", "Never"), ("1", "In 1 day"), ("7", "In 7 days"), ("30", "In 30 days"), ("90", "In 90 days"))

    name = forms.CharField(label="Token name", max_length=100, required=False, help_text="Where you will use it, e.g. “nightly export”.")
    connections = forms.MultipleChoiceField(
        label="Only these connections", required=False, widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every connection. Others are invisible to the token.",
    )
    actions = forms.MultipleChoiceField(
        label="Only these actions", required=False, widget=forms.CheckboxSelectMultiple, choices=TokenAction.choices,
        help_text="None ticked: everything your role allows.",
    )
    expires_in = forms.ChoiceField(label="Expires", required=False, choices=EXPIRY_DAYS)

    def __init__(self, *args, connection_names: list[str] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["connections"].choices = [(n, n) for n in connection_names]

    def field_for(self, name: str) -> str | None:
        return {"expires_at": "expires_in"}.get(name) or super().field_for(name)

    def limits(self) -> dict:
        """The keyword arguments of ``services.api_token_create`` this form asks for."""
        data = self.cleaned_data
        days = data.get("expires_in")
        return {
            "name": data["name"], "connections": data["connections"] or None, "actions": data["actions"] or None,
            "expires_at": timezone.now() + timedelta(days=int(days)) if days else None,
        }


ROW_ERROR_RE = re.compile(r"^(parameters|scopes)\[(\d+)\]\.(\w+)$")


class CustomServicePage:
    """The forms of a custom-service page, bound together.

    The service fields, the parameter rows and scope rows (formsets, so rows can be added
    without JavaScript) and, on the create page, the connection's names and credentials.
    """

    def __init__(self, data=None, *, editing=None, with_connection: bool = True, add_row: str | None = None):
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
        self.service = CustomServiceForm(data, editing=editing, initial=initial)
        param_class = ParameterValueFormSet if with_connection else ParameterFormSet
        param_initial = [{"key": p["key"], "display_name": p["display_name"]} for p in definition.get("parameters") or []]
        scope_initial = [{"name": s["name"], "display_name": s["display_name"]} for s in definition.get("scopes") or []]
        self.params = param_class(data, prefix="param", initial=param_initial or None)
        self.scopes = ScopeFormSet(data, prefix="scope", initial=scope_initial or None)
        if data is None:
            self.params.extra = 1 if param_initial else 2
            self.scopes.extra = 1 if scope_initial else 2
        self.connection = NewConnectionForm(data) if with_connection else None

    @property
    def parts(self) -> list:
        return [p for p in (self.service, self.params, self.scopes, self.connection) if p is not None]

    def is_valid(self) -> bool:
        return all([p.is_valid() for p in self.parts])  # a list: validate every part

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
