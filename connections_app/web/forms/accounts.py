"""Forms of the Services page's OAuth clients and of API tokens."""

from __future__ import annotations

from django import forms

from .base import DomainErrorsMixin, secret_input


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

    def field_for(self, name: str) -> str | None:
        return {"consumer_key": "client_id", "consumer_secret": "client_secret"}.get(name) or super().field_for(name)


class ApiTokenForm(DomainErrorsMixin, forms.Form):
    name = forms.CharField(label="Token name", max_length=100, required=False, help_text="Where you will use it, e.g. “nightly export”.")
