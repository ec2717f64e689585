"""Reads by querysets compiled once per process (issue 26): the link pages, the notifications page.

Like `config.statements.prepared`, but for querysets that read some columns only (`only()`,
`values_list()`): the ORM compiles the queryset once for stand-in values (an id no row has, an
address no branch has, a nil UUID), each read puts the real values in their places among the
parameters and turns the rows into objects as the queryset's own iterable would (the model's
loaded columns, each `select_related` object cached on its parent, the database's converters
applied). The statement is the ORM's own text, so the page reads what it read before; only the
building (about 1 ms of CPU a statement) is saved. Values are never part of a statement's text.

A read that finds its one row by a unique key and checks it against the reader's branch subtree
(`keyed`: a link's page) is prepared although the subtree's path is a `LIKE` prefix: the row is
found by the key whatever the prefix, so PostgreSQL's generic plan is the plan for any value.

A stand-in given as a one-element list (`[OWNER]`, for a `pk__in=` filter) takes a list of any
length: on PostgreSQL its `IN (%s)` is written `= ANY(%s)` with the list as one parameter (one
statement, prepared once, for every length), elsewhere the `IN` gets a placeholder per value.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connection
from django.db.models.query import ModelIterable, get_related_populators

from config.statements import read_cursor

# Stand-ins no row has: their places among a compiled statement's parameters are the values'.
OWNER = -7_654_321
PATH = "/-7654321/"
PUBLIC_ID = uuid.UUID(int=7_654_321)


def _prep(value: Any) -> Any:
    """A value as the compiled statement carries it (UUIDs as hex where the database has no UUID type)."""
    if isinstance(value, uuid.UUID) and not connection.features.has_native_uuid_field:
        return value.hex
    return value


class Frozen:
    """A queryset built by `build(*stand_ins)`, compiled once; `objects(*values)` its model
    instances, `values(*values)` its rows (a `values_list` queryset), for the real values."""

    def __init__(self, build: Callable[..., Any], stand_ins: Sequence[Any], *, keyed: bool = False) -> None:
        queryset = build(*stand_ins)
        compiler = queryset.query.get_compiler(connection.alias)
        sql, params = compiler.as_sql()
        self.sql, self.params = sql, list(params)
        self.slots: list[tuple[int, int, bool]] = []  # (parameter, stand-in, inside a string)
        # A list stand-in's parameter: the statement's text around it (`pieces`) and its place.
        self.listed: int | None = None
        for i, p in enumerate(self.params):
            for k, s in enumerate(stand_ins):
                if isinstance(s, list):
                    if type(p) is type(s[0]) and p == s[0]:
                        self.slots.append((i, k, False))
                        self.listed = i
                elif isinstance(s, str) and isinstance(p, str) and s in p:
                    self.slots.append((i, k, True))
                elif not isinstance(s, str) and type(p) is type(_prep(s)) and p == _prep(s):
                    self.slots.append((i, k, False))
        if {k for _, k, _ in self.slots} != set(range(len(stand_ins))):
            raise ValueError("a stand-in is not a parameter")  # a programming error
        self.stand_ins = list(stand_ins)
        self.pieces: list[str] = []
        if self.listed is not None:
            pieces = self.sql.split("%s")
            before, after = pieces[self.listed], pieces[self.listed + 1]
            if len(pieces) != len(self.params) + 1 or not before.endswith(" IN (") or not after.startswith(")"):
                raise ValueError("a list stand-in is not one `IN (%s)`")  # a programming error
            if connection.vendor == "postgresql":
                pieces[self.listed] = before[: -len("IN (")] + "= ANY("
                self.sql = "%s".join(pieces)
            else:
                self.pieces = pieces
        self.like = any(inside for _, _, inside in self.slots)
        self.keyed = keyed
        self.compiler = compiler
        self.converters: dict[int, Any] | None = None
        # A model's instances (not a `values_list`'s rows): where their columns are among the select.
        self.klass_info = compiler.klass_info if queryset._iterable_class is ModelIterable else None
        if self.klass_info is not None:
            select = compiler.select
            fields = self.klass_info["select_fields"]
            self.start, self.end = fields[0], fields[-1] + 1
            self.init_list = [f[0].target.attname for f in select[self.start : self.end]]
            # Django 5.2's signature (the stubs have a later one's `fetch_mode`).
            self.populators = get_related_populators(self.klass_info, select, connection.alias)  # type: ignore[call-arg]

    def _rows(self, values: Sequence[Any]) -> Any:
        params = list(self.params)
        for i, k, inside in self.slots:
            if inside:
                real = connection.ops.prep_for_like_query(values[k])
                params[i] = params[i].replace(self.stand_ins[k], real)
            elif i == self.listed:
                params[i] = [_prep(v) for v in values[k]]
            else:
                params[i] = _prep(values[k])
        sql = self.sql
        if self.pieces:  # a list's values, a placeholder each (`IN (NULL)` for none: no row)
            at = self.listed
            assert at is not None
            listed = params[at]
            marks = ", ".join(["%s"] * len(listed)) or "NULL"
            sql = "%s".join(self.pieces[: at + 1]) + marks + "%s".join(self.pieces[at + 1 :])
            params = [*params[:at], *listed, *params[at + 1 :]]
        # Prepared on its connection (`read_cursor`) unless a value is a branch path's prefix
        # that finds the rows (a row found by its key and checked against a subtree is prepared).
        with connection.cursor() if self.like and not self.keyed else read_cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if self.converters is None:
            # What `compiler.results_iter` works out on every call (the select's converters:
            # about 15 µs a column), worked out once.
            compiler = self.compiler
            fields = [s[0] for s in compiler.select[0 : compiler.col_count]]
            if compiler.has_composite_fields(fields):
                return compiler.results_iter([rows])
            self.converters = compiler.get_converters(fields)
        return self.compiler.apply_converters(rows, self.converters) if self.converters else rows

    def objects(self, *values: Any) -> list[Any]:
        """The queryset's objects for these values (in the stand-ins' order)."""
        assert self.klass_info is not None
        model, db = self.klass_info["model"], connection.alias
        out = []
        for row in self._rows(values):
            obj = model.from_db(db, self.init_list, row[self.start : self.end])
            for populator in self.populators:
                populator.populate(row, obj)
            out.append(obj)
        return out

    def values(self, *values: Any) -> list[tuple[Any, ...]]:
        """The rows of a `values_list` queryset for these values."""
        return [tuple(row) for row in self._rows(values)]


_frozen: dict[tuple[str, str], Frozen] = {}


def frozen(name: str, build: Callable[..., Any], stand_ins: Sequence[Any], *, keyed: bool = False) -> Frozen:
    """The `Frozen` read called `name` on this database, compiled at its first use."""
    key = (connection.vendor, name)
    found = _frozen.get(key)
    if found is None:
        found = _frozen[key] = Frozen(build, stand_ins, keyed=keyed)
    return found
