"""Forms of the Services page's OAuth clients and of API tokens."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.utils import timezone

from ...models import TokenAction
from .base import DomainErrorsMixin, secret_input
from .service_blocks import in_words


class ServiceClientForm(DomainErrorsMixin, forms.Form):
    """An organisation's OAuth client for a preconfigured service."""

    client_id = forms.CharField(label="Client ID", max_length=2000, widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
    client_secret = forms.CharField(label="Client secret", max_length=2000, strip=False, widget=secret_input())

    redirect_name = forms.CharField(
        label="Redirect URI name (RuName)", max_length=200,
        help_text="The name the provider gave the redirect URL (eBay: RuName); set its accept URL to the redirect URI above.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def __init__(self, *args, client_fields: tuple[str, str] = ("client_id", "client_secret"), extra_names: tuple[str, ...] = (), **kwargs):
        """``client_fields``: the names the service's block gives its client (``consumer_key``);
        ``extra_names``: the client's other values the service needs (``redirect_name``)."""
        super().__init__(*args, **kwargs)
        if "redirect_name" not in extra_names:
            del self.fields["redirect_name"]
        self.block_names = dict(zip(client_fields, ("client_id", "client_secret")))
        for block_name, form_name in self.block_names.items():
            self.fields[form_name].label = in_words(block_name)

    def field_for(self, name: str) -> str | None:
        return self.block_names.get(name) or super().field_for(name)


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
