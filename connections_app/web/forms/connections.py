"""Forms of My Connections and of a connection: filters, create from a service, edit."""

from __future__ import annotations

from django import forms

from services_catalog.fields import CONFIG_URL_MAX_CHARS
from services_catalog.schema import ServiceDefinition

from ... import selectors
from ..catalog_text import choice_label
from .base import (
    AUTH_TYPE_CHOICES,
    SECRET_KEEP_HELP,
    STATUS_CHOICES,
    DomainErrorsMixin,
    LinkNameField,
    connection_link_name,
    secret_input,
)

LINK_NAME_HELP = "Scripts use it (connection: \"…\"). Lower case letters, digits and _; it never changes."


class ConnectionFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search", max_length=100, widget=forms.TextInput(attrs={"type": "search", "placeholder": "Name or link name"}))
    status = forms.ChoiceField(required=False, choices=STATUS_CHOICES, label="Status")


class ServiceFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search services", max_length=100, widget=forms.TextInput(attrs={"type": "search", "placeholder": "e.g. Zoho, GitHub"}))
    auth_type = forms.ChoiceField(required=False, choices=[("", "Any authentication"), *AUTH_TYPE_CHOICES], label="Authentication")


def _scope_field(service: ServiceDefinition, initial, help_text: str) -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        label="Scopes", required=False, widget=forms.CheckboxSelectMultiple,
        choices=[(s.name, s.display_name) for s in service.scopes], initial=initial, help_text=help_text,
    )


def credential_field(parameter, *, required: bool, help_text: str) -> forms.CharField:
    """A typed credential: a secret input, or a text area for a key file or PEM key. Like a
    secret input, it shows what was typed only on the response that asks to correct it."""
    multiline = getattr(parameter, "multiline", False)
    widget = forms.Textarea(attrs={"rows": 6, "autocomplete": "off", "spellcheck": "false"}) if multiline else secret_input()
    return forms.CharField(
        label=parameter.display_name, strip=False, required=required and getattr(parameter, "required", True),
        max_length=16384 if multiline else 4096, widget=widget, help_text=help_text,
    )


class CredentialFieldsMixin:
    """The typed credentials of a service as fields ``credential_<n>``."""

    def add_credential_fields(self, service: ServiceDefinition, *, required: bool, help_text: str = "") -> None:
        self.credential_keys: list[str] = []
        for index, parameter in enumerate(service.credential_fields()):
            self.credential_keys.append(parameter.key)
            sent_as = f"Sent as {parameter.key}." if parameter in service.parameters else ""  # the key is the service's
            self.fields[f"credential_{index}"] = credential_field(
                parameter, required=required, help_text=" ".join(t for t in (help_text, sent_as) if t),
            )

    @property
    def credential_fields(self):
        return [self[n] for n in self.fields if n.startswith("credential_")]

    def typed_credentials(self) -> dict:
        data = self.cleaned_data
        return {key: data.get(f"credential_{i}") for i, key in enumerate(self.credential_keys) if data.get(f"credential_{i}")}

    def credential_field_for(self, name: str) -> str | None:
        if name.startswith("credentials."):
            key = name.removeprefix("credentials.")
            return f"credential_{self.credential_keys.index(key)}" if key in self.credential_keys else None
        if name == "credentials" and self.credential_keys:
            return "credential_0"
        return None


class ConnectionDetailsForm(CredentialFieldsMixin, DomainErrorsMixin, forms.Form):
    """Name, link name, and what the chosen service asks for: scopes, config, credentials."""

    name = forms.CharField(label="Connection name", max_length=100)
    link_name = LinkNameField(label="Connection link name", help_text=LINK_NAME_HELP)

    def __init__(self, *args, service: ServiceDefinition, organisation=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.service = service
        self.organisation = organisation
        self.fields["link_name"].widget.attrs["data-linkname-from"] = "id_name"
        self.fields["name"].widget.attrs["autocomplete"] = "off"
        consent = not (service.oauth2 and service.oauth2.grant_type == "client_credentials")
        if service.is_oauth and service.scopes:
            self.fields["scopes"] = _scope_field(
                service, list(service.default_scopes),
                "What this connection may do. See the service's API documentation for each scope.",
            )
        elif service.is_oauth and consent:
            self.fields["scopes_text"] = forms.CharField(
                label="Scopes", required=False, max_length=2000,
                help_text="Scope names separated by spaces, as the service's documentation lists them.",
            )
        for field in service.config_fields:
            if field.choices:
                formfield = forms.ChoiceField(
                    label=field.display_name, initial=field.default,
                    choices=[(c, choice_label(service, field, c)) for c in field.choices],
                )
            elif field.is_url:  # a whole URL copied from the provider (Workday's Authorization Endpoint)
                formfield = forms.CharField(label=field.display_name, initial=field.default, max_length=CONFIG_URL_MAX_CHARS,
                                            widget=forms.URLInput, help_text=f"A URL on {', '.join(field.url_hosts)}.")
            else:
                formfield = forms.CharField(label=field.display_name, initial=field.default, max_length=63)
            formfield.widget.attrs["data-config"] = field.name
            self.fields[f"config_{field.name}"] = formfield
        self.add_credential_fields(service, required=True)

    def clean_link_name(self):
        value = connection_link_name(self.cleaned_data["link_name"])
        if self.organisation is not None and selectors.connection_link_name_taken(organisation=self.organisation, link_name=value):
            raise forms.ValidationError(f"The link name {value!r} is already used by another connection.")
        return value

    @property
    def scope_fields(self):
        return [self[n] for n in ("scopes", "scopes_text") if n in self.fields]

    @property
    def config_fields(self):
        return [self[n] for n in self.fields if n.startswith("config_")]

    def config_values(self) -> dict:
        """The config as typed so far (or the defaults), to fill the service's hosts in."""
        out = {}
        for f in self.service.config_fields:
            value = self[f"config_{f.name}"].value()
            if isinstance(value, str) and value:
                out[f.name] = value
        return out

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
        if name.startswith("credentials"):
            return self.credential_field_for(name)
        return super().field_for(name)


class ConnectionEditForm(CredentialFieldsMixin, DomainErrorsMixin, forms.Form):
    """Rename a connection, change its scopes, or replace its typed credentials.

    A connection whose credentials were wiped (revoked) has nothing to keep: its credential
    fields are required and say so, instead of offering to keep a stored secret.
    """

    name = forms.CharField(label="Connection name", max_length=100)

    def __init__(self, *args, service: ServiceDefinition, connection, **kwargs):
        super().__init__(*args, **kwargs)
        self.service = service
        self.fields["name"].initial = connection.name
        if service.is_oauth and service.scopes:
            self.fields["scopes"] = _scope_field(service, list(connection.scopes), "Changing the scopes asks the provider for consent again.")
        self.credentials_stored = bool(connection.credentials_encrypted)
        if self.credentials_stored:
            self.add_credential_fields(service, required=False, help_text=SECRET_KEEP_HELP)
        else:
            self.add_credential_fields(service, required=True)

    def changes(self, connection) -> dict:
        data = self.cleaned_data
        out: dict = {}
        if data["name"] != connection.name:
            out["name"] = data["name"]
        if "scopes" in self.fields and set(data.get("scopes") or []) != set(connection.scopes):
            out["scopes"] = list(data.get("scopes") or [])
        credentials = self.typed_credentials()
        if credentials:
            out["credentials"] = credentials
        return out

    def field_for(self, name: str) -> str | None:
        if name.startswith("credentials"):
            return self.credential_field_for(name)
        return super().field_for(name)
