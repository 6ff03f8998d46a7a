"""Keyset pagination: ``?page_size=N`` (default 50, max 500); ``next``/``previous`` URLs.

Keyset (``after``/``before`` a key) rather than offsets keeps a deep page as cheap as the
first one. The key is the link name for services and connections, the id for logs.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from ..errors import ValidationFailed

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


class Pagination(BasePagination):
    def __init__(self, key: str = "link_name", descending: bool = False):
        self.key = key
        self.descending = descending

    def page_size(self, request) -> int:
        raw = request.query_params.get("page_size")
        if raw in (None, ""):
            return DEFAULT_PAGE_SIZE
        try:
            value = int(raw)
        except ValueError:
            raise ValidationFailed.field("page_size", "Must be a whole number.") from None
        if not 1 <= value <= MAX_PAGE_SIZE:
            raise ValidationFailed.field("page_size", f"Must be from 1 to {MAX_PAGE_SIZE}.")
        return value

    def _cursor(self, request, name):
        raw = request.query_params.get(name)
        if raw is None or (raw == "" and self.key != "id"):  # an id cursor is an integer (the schema says so)
            return None
        if self.key == "id":
            try:
                return int(raw)
            except ValueError:
                raise ValidationFailed.field(name, "Not a valid page position.") from None
        return raw

    def paginate_queryset(self, queryset, request, view=None):
        """Return one page of a queryset or of a list already sorted by the key."""
        size = self.page_size(request)
        after, before = self._cursor(request, "after"), self._cursor(request, "before")
        self.request = request
        backwards = before is not None and after is None
        if isinstance(queryset, list):
            items = self._slice_list(queryset, after, before, size)
        else:
            items = self._slice_queryset(queryset, after, before, size)
        has_more = len(items) > size
        items = items[:size]
        if backwards:
            items.reverse()
        if backwards:
            self.has_next, self.has_previous = True, has_more
        else:
            self.has_next, self.has_previous = has_more, after is not None
        self.items = items
        return items

    def _key_of(self, item):
        return item[self.key] if isinstance(item, dict) else getattr(item, self.key)

    def _slice_list(self, items, after, before, size):
        if after is not None:
            items = [i for i in items if self._key_of(i) > after]
        elif before is not None:
            return [i for i in items if self._key_of(i) < before][::-1][: size + 1]
        return list(items[: size + 1])

    def _slice_queryset(self, queryset, after, before, size):
        # "Forward" means the listing's own order: ascending keys, or descending ones.
        fwd_op, back_op = ("lt", "gt") if self.descending else ("gt", "lt")
        fwd_order = f"-{self.key}" if self.descending else self.key
        back_order = self.key if self.descending else f"-{self.key}"
        if after is not None:
            return list(queryset.filter(**{f"{self.key}__{fwd_op}": after}).order_by(fwd_order)[: size + 1])
        if before is not None:
            return list(queryset.filter(**{f"{self.key}__{back_op}": before}).order_by(back_order)[: size + 1])
        return list(queryset.order_by(fwd_order)[: size + 1])

    def get_paginated_response(self, data):
        return Response({"results": data, "next": self.next_url(), "previous": self.previous_url()})

    def next_url(self):
        if not self.has_next or not self.items:
            return None
        url = remove_query_param(self.request.build_absolute_uri(), "before")
        return replace_query_param(url, "after", self._key_of(self.items[-1]))

    def previous_url(self):
        if not self.has_previous or not self.items:
            return None
        url = remove_query_param(self.request.build_absolute_uri(), "after")
        return replace_query_param(url, "before", self._key_of(self.items[0]))

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results", "next", "previous"],
            "properties": {
                "results": schema,
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
            },
        }


def page_parameters(key: str) -> list[OpenApiParameter]:
    """The query parameters of a list keyed by ``key`` (``link_name`` or ``id``), for the schema."""
    position = int if key == "id" else str
    return [
        OpenApiParameter(
            "page_size", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
            description=f"Items per page (default {DEFAULT_PAGE_SIZE}).",
        ),
        OpenApiParameter("after", position, description=f"Start after this {key} (``next`` carries it)."),
        OpenApiParameter("before", position, description=f"End before this {key} (``previous`` carries it)."),
    ]
