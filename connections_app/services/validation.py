"""Checks shared by the business steps: names and link names."""

from __future__ import annotations

from typing import Any

from services_catalog.schema import LINK_NAME_MESSAGE, LINK_NAME_RE

from ..errors import ValidationFailed

NAME_MAX = 100
# Words the pages use in URLs where a connection's link name would go (/connections/new/).
RESERVED_CONNECTION_LINK_NAMES = frozenset({"new"})


def check_link_name(value: Any, field: str = "link_name") -> str:
    if not isinstance(value, str) or not LINK_NAME_RE.match(value):
        raise ValidationFailed.field(field, LINK_NAME_MESSAGE)
    return value


def check_name(value: Any, field: str = "name") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed.field(field, "This field is required.")
    if len(value.strip()) > NAME_MAX:
        raise ValidationFailed.field(field, f"At most {NAME_MAX} characters.")
    return value.strip()
