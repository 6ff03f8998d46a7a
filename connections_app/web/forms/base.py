"""What every form of the browser pages shares: labels, secret inputs, link names, and
domain errors put back next to the fields they name."""

from __future__ import annotations

from django import forms
from django.core.validators import RegexValidator
from django.forms.utils import ErrorDict, ErrorList

from services_catalog.schema import LINK_NAME_MESSAGE, LINK_NAME_RE

from ...services import RESERVED_CONNECTION_LINK_NAMES
from ...auth.registry import AUTH_TYPES
from ...errors import ConnectionsError
from ...models import ConnectionStatus

link_name_validator = RegexValidator(LINK_NAME_RE, LINK_NAME_MESSAGE)

# Every auth type, labelled by its own module (filters, tags).
AUTH_TYPE_CHOICES = [(name, cls.label) for name, cls in AUTH_TYPES.items()]
PARAM_TYPE_CHOICES = [("query", "Query string"), ("form", "Form data"), ("header", "Header")]
AUTH_TYPE_LABELS = dict(AUTH_TYPE_CHOICES)
PARAM_TYPE_LABELS = dict(PARAM_TYPE_CHOICES)
STATUS_CHOICES = [("", "Any status"), *ConnectionStatus.choices]
SECRET_KEEP_HELP = "Leave empty to keep the secret that is stored."


def secret_input(**attrs) -> forms.PasswordInput:
    """A password input that shows a value only when the form comes back with errors.

    A page's unbound form has no value to show, and a successful save redirects, so a
    typed secret is re-filled only in the one response that asks to correct the form; it
    is never stored before the form is saved.
    """
    return forms.PasswordInput(render_value=True, attrs={"autocomplete": "new-password", "spellcheck": "false", **attrs})


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

    def error_list(self) -> list[tuple[str, str, str]]:
        """The field errors for the summary above the form (see ``error_summary``)."""
        return error_summary(self)

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
                elif message not in self.errors.get(target, []):
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


def error_summary(*parts) -> list[tuple[str, str, str]]:
    """Return (field id, label, message) for every field error of the forms and formsets
    given, in page order, so the summary above a form can list and link them."""
    out: list[tuple[str, str, str]] = []
    for part in parts:
        if part is None:
            continue
        for form in part.forms if isinstance(part, forms.BaseFormSet) else [part]:
            if not form.is_bound:
                continue
            errors_of = form.errors
            for name in form.fields:  # the order of the page, not of the checks
                if name not in errors_of:
                    continue
                bound = form[name]
                for message in errors_of[name]:
                    out.append((bound.id_for_label or bound.auto_id, str(bound.label), str(message)))
    return out
