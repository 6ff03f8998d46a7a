"""Fixed joined SELECTs for the hot paths, built once, returning model instances.

The ORM compiles a queryset to SQL on every call: for invoke's two lookups (the API token
with its membership, user and organisation; the connection with its custom service) that
is about 2 ms of CPU each here, against 0.3 ms for the same SQL sent as is. A ``RowQuery``
builds its SQL from the models' metadata the first time it runs (so table and column
names, quoting and the value converters follow the models and the database), then sends
that SQL through Django's cursor: the query is still counted, wrapped and logged as any.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from django.db import connections
from django.db.models import JSONField, Model, signals
from django.db.models.base import ModelState


@dataclass(frozen=True)
class Part:
    """One model in the SELECT: its table alias, and the fields to read (None: all)."""

    model: type[Model]
    alias: str
    fields: tuple[str, ...] | None = None

    def attnames(self) -> list[str]:
        concrete = self.model._meta.concrete_fields
        return [f.attname for f in concrete if self.fields is None or f.attname in self.fields]


class RowQuery:
    """``SELECT <parts' columns> <tail>``. In ``tail``, ``{t_table}`` stands for part t's
    table with its alias (for FROM and JOIN) and ``{t}`` for the alias alone.

    ``returning=True`` makes it ``<tail> RETURNING <columns>`` for one part (an UPDATE that
    hands back the row it changed; PostgreSQL, and SQLite from 3.35): there ``{t_table}``
    is the bare table name and the columns are unqualified.
    """

    def __init__(self, parts: list[Part], tail: str, using: str = "default", *, returning: bool = False):
        if returning and len(parts) != 1:
            raise ValueError("RETURNING reads one table")
        self.parts, self.tail, self.using, self.returning = parts, tail, using, returning
        self._built: tuple | None = None
        self._lock = threading.Lock()

    def first(self, params: list) -> list[Model | None] | None:
        """The first row as one instance per part (None for an all-NULL outer join), or None."""
        values = self.first_values(params)
        return None if values is None else self.instances(values)

    def first_values(self, params: list) -> tuple[tuple | None, ...] | None:
        """The first row as one tuple of converted values per part (None for an all-NULL
        outer join), or None: plain data a cache can keep and ``instances`` turn back."""
        sql, layout = self._build()
        connection = connections[self.using]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        parts, start = [], 0
        for _model, attnames, converters, _copy_at, _plain in layout:
            values = list(row[start:start + len(attnames)])
            start += len(attnames)
            if values[0] is None:  # the primary key comes first: no row joined
                parts.append(None)
                continue
            for index, field_converters in converters:
                for convert in field_converters:
                    values[index] = convert(values[index], None, connection)
            parts.append(tuple(values))
        return tuple(parts)

    def instances(self, values: tuple) -> list[Model | None]:
        """Fresh model instances from ``first_values``' result (JSON maps and lists copied
        one level deep, so an instance whose caller sets a key leaves the values as they
        were; nested values are shared: treat them as read-only)."""
        _sql, layout = self._build()
        made = []
        for (model, attnames, _converters, copy_at, plain), part in zip(layout, values, strict=True):
            if part is None:
                made.append(None)
                continue
            if copy_at:
                part = list(part)
                for index in copy_at:
                    if isinstance(part[index], (dict, list)):  # JSON may hold a bare string or number too
                        part[index] = part[index].copy()
            made.append(_loaded(model, self.using, attnames, part) if plain else model.from_db(self.using, attnames, part))
        return made

    def _build(self) -> tuple:
        if self._built is None:
            with self._lock:
                self._built = self._built or self._compose()
        return self._built

    def _compose(self) -> tuple:
        connection = connections[self.using]
        quote = connection.ops.quote_name
        columns, layout, tables = [], [], {}
        for part in self.parts:
            meta = part.model._meta
            tables[part.alias] = quote(part.alias)
            tables[f"{part.alias}_table"] = quote(meta.db_table) if self.returning else f"{quote(meta.db_table)} {quote(part.alias)}"
            attnames = part.attnames()
            attnames.sort(key=lambda name: name != meta.pk.attname)  # pk first: tells a missing join
            converters, copy_at = [], []
            for index, name in enumerate(attnames):
                field = next(f for f in meta.concrete_fields if f.attname == name)
                if isinstance(field, JSONField):
                    copy_at.append(index)
                columns.append(quote(field.column) if self.returning else f"{quote(part.alias)}.{quote(field.column)}")
                col = field.get_col(part.alias)
                found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
                if found:
                    converters.append((index, found))
            plain = not (signals.pre_init.has_listeners(part.model) or signals.post_init.has_listeners(part.model))
            layout.append((part.model, attnames, converters, tuple(copy_at), plain))
        tail = self.tail.format(**tables)
        sql = f"{tail} RETURNING {', '.join(columns)}" if self.returning else f"SELECT {', '.join(columns)} {tail}"
        return sql, layout


def _loaded(model: type[Model], using: str, attnames: list[str], values) -> Model:
    """What ``model.from_db`` makes of these values, without ``Model.__init__``'s walk over
    every field (most of the cost of turning invoke's cached rows back into instances).
    ``__init__`` puts each value in the instance's ``__dict__`` under its attname, as here; a
    field left out reads as deferred either way. Only for models without init signals."""
    instance = model.__new__(model)
    instance.__dict__.update(zip(attnames, values))
    state = instance._state = ModelState()
    state.adding, state.db = False, using
    return instance
