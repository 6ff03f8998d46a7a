"""Form fields derived from an auth type's block of the service definition (its pydantic
``section_model``), so that an option declared there appears on the custom-service page
with no edit here.

Each field of the block becomes a form field named ``<section>_<field>`` (``oauth2_token_url``):
its kind (choice, check box, URL, text, secret, map, list), its label (the field's ``title``,
else its name in words), its help (``description``), its default and its limits all come from
the declaration. The form only turns what was typed into plain data; the definition itself
judges it, and its errors come back onto these fields (``CustomServiceForm.field_for``).
"""

from __future__ import annotations

import re
import types
import typing
import unicodedata
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from django import forms
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from services_catalog.fields import ChoiceLabels, Secret, has_marker, is_url

from .base import secret_input

# Words a field name spells in lower case that read in capitals ("client_id" -> "Client ID").
CAPITALS = {"id": "ID", "url": "URL", "uri": "URI", "pkce": "PKCE", "jwt": "JWT", "aws": "AWS"}
MULTILINE_ABOVE = 4096  # a longer value is a key file or a PEM key: a text area


def in_words(name: str) -> str:
    """``client_id`` -> ``Client ID``."""
    text = " ".join(CAPITALS.get(w, w) for w in name.split("_"))
    return text[:1].upper() + text[1:]


def label_of(name: str, info: FieldInfo) -> str:
    return info.title or in_words(name)


def choice_label(value: Any) -> str:
    """A value of a Literal in words: "authorization_code" -> "Authorization code", "," -> "Comma (,)"."""
    text = str(value)
    if len(text) == 1 and not text.isalnum():
        name = unicodedata.name(text, text).capitalize()
        return name if text.isspace() else f"{name} ({text})"
    if re.fullmatch(r"[a-z][a-z0-9_]*", text):
        return in_words(text)
    return text


class MapField(forms.CharField):
    """A ``{name: value}`` option as one ``name: value`` per line."""

    widget = forms.Textarea

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.widget.attrs.update({"rows": 3, "spellcheck": "false", "placeholder": "name: value"})

    def to_python(self, value):
        out = {}
        for line in (super().to_python(value) or "").splitlines():
            if not line.strip():
                continue
            name, sep, text = line.partition(":")
            if not sep or not name.strip():
                raise forms.ValidationError("Write one name: value per line.")
            out[name.strip()] = text.strip()
        return out

    def prepare_value(self, value):
        return "\n".join(f"{k}: {v}" for k, v in value.items()) if isinstance(value, dict) else value


class ListField(forms.CharField):
    """A list option as words separated by spaces or commas."""

    def to_python(self, value):
        return [w for w in re.split(r"[\s,]+", super().to_python(value) or "") if w]

    def prepare_value(self, value):
        return " ".join(value) if isinstance(value, (list, tuple)) else value


@dataclass
class BlockField:
    """One field of a block: its form field, and how its value goes back into the block."""

    name: str  # the block's field name ("token_url")
    form_name: str  # the form's field name ("oauth2_token_url")
    field: forms.Field
    kind: str  # "choice", "bool", "text", "map" or "list"
    secret: bool = False
    shown_first: bool = False  # else under "More options"
    common_kind: bool = False  # a URL or a choice: shown first when declared among the first

    def to_block(self, value: Any) -> Any:
        """The form's cleaned value as the block takes it: empty means "not set"."""
        if self.kind == "bool":
            return bool(value)
        return value or None

    def to_initial(self, stored: Any) -> Any:
        return None if self.secret else stored


def _unwrap(info: FieldInfo) -> tuple[Any, list]:
    """(the bare type, every metadata item) of a field, Optional and Annotated taken off."""
    annotation, metadata = info.annotation, list(info.metadata)
    while True:
        if typing.get_origin(annotation) is Annotated:
            metadata += list(annotation.__metadata__)
            annotation = typing.get_args(annotation)[0]
            continue
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
            annotation = args[0]
            continue
        return annotation, metadata


def _max_length(metadata: list) -> int | None:
    """The tightest ``max_length`` of the constraints (StringConstraints, annotated_types.MaxLen)."""
    lengths = [m.max_length for m in metadata if isinstance(getattr(m, "max_length", None), int)]
    return min(lengths) if lengths else None


def block_field(section: str, name: str, info: FieldInfo, *, client_fields: tuple[str, ...] = ()) -> BlockField | None:
    """The form field for one field of a block, or None for a shape a form cannot hold (a
    nested object): such an option is set through the API or a catalog file."""
    annotation, metadata = _unwrap(info)
    origin = typing.get_origin(annotation)
    default = None if info.default is PydanticUndefined else info.default
    common = {"label": label_of(name, info), "help_text": info.description or "", "required": False}
    secret = has_marker(metadata, Secret) or info.exclude is True
    if origin is Literal:
        kind = "choice"
        words = next((m.labels for m in metadata if isinstance(m, ChoiceLabels)), {})
        choices = [(v, words.get(v) or choice_label(v)) for v in typing.get_args(annotation)]
        form_field: forms.Field = forms.ChoiceField(choices=choices, initial=default, **common)
    elif annotation is bool:
        kind = "bool"
        form_field = forms.BooleanField(initial=default, **common)
    elif origin is dict:
        kind = "map"
        form_field = MapField(**common)
    elif origin in (tuple, list):
        kind = "list"
        form_field = ListField(widget=forms.TextInput(attrs={"spellcheck": "false"}), **common)
    elif annotation is str:
        kind = "text"
        max_length = _max_length(metadata)
        if max_length and max_length > MULTILINE_ABOVE:
            widget: forms.Widget = forms.Textarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"})
        elif secret:
            widget = secret_input()
        elif is_url(metadata):
            widget = forms.URLInput()
        else:
            widget = forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"})
        form_field = forms.CharField(max_length=max_length, strip=not secret, widget=widget, **common)
    else:
        return None
    if default not in (None, "", {}, ()) and kind in ("text", "list", "map"):
        form_field.widget.attrs["placeholder"] = form_field.prepare_value(default)  # empty keeps the default
    form_field.declared_default = default
    # A required field, a client field and a choice are not "(optional)" for their type.
    form_field.conditional = info.is_required() or name in client_fields or kind in ("choice", "bool")
    main = info.is_required() or name in client_fields
    common_kind = is_url(metadata) or kind in ("choice", "bool")
    return BlockField(name, f"{section}_{name}", form_field, kind, secret=secret, shown_first=main, common_kind=common_kind)


def block_fields(auth) -> list[BlockField]:
    """The form fields of an auth type's block: its client fields first, then the rest in
    the order they are declared.

    Shown first: the client, the required fields, and the run of URLs and choices a block
    declares before its first other option (a block lists its common options first); the
    rest under "More options".
    """
    model = auth.section_model
    if model is None:
        return []
    client = tuple(auth.client_fields or ())
    names = sorted(model.model_fields, key=lambda n: (n not in client, client.index(n) if n in client else 0))
    out = []
    leading = True
    for name in names:
        derived = block_field(auth.section, name, model.model_fields[name], client_fields=client)
        if derived is None:
            continue
        if name not in client:
            leading = leading and (derived.shown_first or derived.common_kind)
            derived.shown_first = derived.shown_first or leading
        out.append(derived)
    return out
