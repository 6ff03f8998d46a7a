"""The building blocks of input serializers: a base that refuses unknown fields, and strict
fields that take JSON as it is (no number-to-string coercion, no trimming) and say what is
wrong in the words the business steps use, so the error envelope reads as it always has.

The OpenAPI schema is derived from these same classes (schema.py marks ``StrictInput``
components ``additionalProperties: false``; each field declares its own schema), so what
the schema promises and what the server checks are one definition.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator, RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.fields import get_error_detail

from services_catalog.schema import LINK_NAME_MESSAGE, LINK_NAME_RE

REQUIRED = "This field is required."
#: The error code of an unknown field (api/errors.py words the message by it).
UNKNOWN = "unknown"
#: The link-name rule for the schema: the catalog's own regular expression.
LINK_NAME_PATTERN = LINK_NAME_RE.pattern


class StrictInput(serializers.Serializer):
    """Unknown fields are refused."""

    # Each unknown field is named in the error with this message.
    # DRF deep-copies the declared fields for every instance, which is most of the cost of
    # validating a small body (about 0.1 ms for invoke's ten fields). These serializers take
    # no context and are never ``partial``, so their fields are bound once per class, to a
    # prototype instance without data, and shared: a field keeps no per-request state.
    unknown_field_message = "Unknown field."
    refuses_unknown_fields = True  # the schema says additionalProperties: false (schema.py)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        hooks = [f"validate_{name}" for name in cls._declared_fields if hasattr(cls, f"validate_{name}")]
        assert not hooks, f"{cls.__name__}: StrictInput runs no validate_<field> hooks: {hooks}"

    def __init__(self, *args, **kwargs):
        assert not kwargs.get("partial") and "context" not in kwargs, "StrictInput takes no context and is never partial"
        super().__init__(*args, **kwargs)

    @property
    def fields(self):
        cls = type(self)
        bound = cls.__dict__.get("_bound_fields")
        if bound is None:
            bound = serializers.Serializer.fields.real_func(cls())  # DRF's own binding, once
            cls._bound_fields = bound
        return bound

    def to_internal_value(self, data):
        if not isinstance(data, Mapping):
            return super().to_internal_value(data)  # DRF's own "expected a dictionary" error
        fields = self.fields
        unknown = [key for key in data if key not in fields]
        if unknown:
            raise serializers.ValidationError({key: [self.unknown_field_message] for key in sorted(unknown)}, code=UNKNOWN)
        # DRF's loop, minus what these serializers never use (sources, defaults, partial,
        # validate_<field> hooks): an absent optional field is skipped without raising and
        # catching SkipField. This halves the cost of validating invoke's body.
        validated, errors = {}, {}
        for name, field in fields.items():
            if name not in data:
                if field.required:
                    errors[name] = [ErrorDetail(field.error_messages["required"], code="required")]
                continue
            try:
                validated[name] = field.run_validation(data[name])
            except serializers.ValidationError as exc:
                errors[name] = exc.detail
            except ValidationError as exc:  # Django's, from a validator
                errors[name] = get_error_detail(exc)
        if errors:
            raise serializers.ValidationError(errors)
        return validated


class Text(serializers.CharField):
    """A JSON string, taken as sent: anything else (a number, a list) is refused. DRF
    refuses NUL characters in it (no database stores them) unless ``nul_ok``."""

    default_error_messages = {"invalid": "Must be a string."}

    def __init__(self, *, nul_ok: bool = False, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)
        if nul_ok:
            self.validators = [v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)]

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def required_text(**kwargs) -> Text:
    """A string the business step needs: missing, null, empty or not a string all read
    "This field is required." (as the steps themselves say)."""
    messages = {"required": REQUIRED, "null": REQUIRED, "blank": REQUIRED, "invalid": REQUIRED}
    return Text(error_messages={**messages, **kwargs.pop("error_messages", {})}, **kwargs)


@extend_schema_field({"type": "string", "pattern": LINK_NAME_PATTERN})
class LinkName(Text):
    """A link name: ``^[a-z][a-z0-9_]{1,49}$`` (the whole string; no trailing newline)."""

    default_error_messages = {"invalid": LINK_NAME_MESSAGE}

    def __init__(self, **kwargs):
        messages = {"required": LINK_NAME_MESSAGE, "null": LINK_NAME_MESSAGE, "blank": LINK_NAME_MESSAGE}
        super().__init__(error_messages={**messages, **kwargs.pop("error_messages", {})}, **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str) or not LINK_NAME_RE.fullmatch(data):
            self.fail("invalid")
        return data


@extend_schema_field({"type": "array", "items": {"type": "string"}})
class TextList(serializers.Field):
    """A list of strings, judged whole: one message for the field, not one per item."""

    default_error_messages = {"invalid": "Must be a list of strings."}

    def to_internal_value(self, data):
        if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
            self.fail("invalid")
        return list(data)

    def to_representation(self, value):
        return value


class TextMap(serializers.Field):
    """An object of names to strings (optionally numbers, or lists of those), judged whole
    and named by the field alone, as invoke always has; no line break or NUL in a value.
    Its value is names to strings (or lists of strings). (The names themselves are checked
    by invoke: OpenAPI 3.0 cannot say what a property name may be.)"""

    default_error_messages = {
        "invalid": "Must be an object of names to strings.",
        "item": "{name!r} must map to a string.",
        "line_break": "{name!r} contains a line break.",
    }
    ONE_LINE = "^[^\\r\\n\\u0000]*$"  # for the schema; the same rule as _one_line()

    def __init__(self, *, numbers: bool = False, lists: bool = False, **kwargs):
        self.numbers, self.lists = numbers, lists
        super().__init__(**kwargs)

    def _scalar(self, item) -> bool:
        return isinstance(item, str) or (self.numbers and isinstance(item, (int, float)) and not isinstance(item, bool))

    @staticmethod
    def _one_line(item) -> bool:
        return not isinstance(item, str) or not any(c in item for c in "\r\n\0")

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("invalid")
        for key, item in data.items():
            items = item if self.lists and isinstance(item, list) else [item]
            if not all(self._scalar(i) for i in items):
                self.fail("item", name=key)
            if not all(self._one_line(i) for i in items):
                self.fail("line_break", name=key)
        # Typed for what follows: numbers become the text they would travel as (requests
        # refuses a number as a header value).
        return {key: [str(i) for i in item] if isinstance(item, list) else str(item) for key, item in data.items()}

    def to_representation(self, value):
        return value

    def schema(self) -> dict:
        """Its OpenAPI schema (schema.TextMapExtension hands it to drf-spectacular)."""
        scalar: list[dict] = [{"type": "string", "pattern": self.ONE_LINE}, *([{"type": "number"}] if self.numbers else [])]
        values = [*scalar, *([{"type": "array", "items": {"oneOf": scalar} if self.numbers else scalar[0]}] if self.lists else [])]
        return {"type": "object", "additionalProperties": {"oneOf": values} if len(values) > 1 else values[0]}


class Number(serializers.Field):
    """A JSON number (not a string, not true/false) in ``(0, maximum]``."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


class WholeNumber(serializers.IntegerField):
    """A JSON integer (not 5.0, not "5", not true) within ``[min_value, max_value]``; one
    message (``invalid``) for every way it can be wrong."""

    def __init__(self, **kwargs):
        messages = kwargs.pop("error_messages")
        super().__init__(error_messages={**messages, "max_value": messages["invalid"], "min_value": messages["invalid"]}, **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return data


class FullMatch(RegexValidator):
    """A ``RegexValidator`` over the whole value: in Python ``$`` also matches before a final
    newline. drf-spectacular reads ``regex.pattern`` into the schema's ``pattern``."""

    def __call__(self, value):
        if not self.regex.fullmatch(str(value)):
            raise ValidationError(self.message, code=self.code, params={"value": value})
