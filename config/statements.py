"""Statements written once per process and their rows turned into model instances (issue 26).

Django builds a page's statements anew on each request: for a read of a few joined tables
that costs ~1 ms of CPU, several times the statement's running on PostgreSQL. Two ways of
building one once:
- `Statement`: a `SELECT` of a model and related tables (forward foreign keys, reverse
  one-to-ones), written from the models' metadata; the caller adds a `WHERE` whose values are
  all parameters. Used for the case page's case row (`onboarding.case_row`).
- `prepared`: a queryset compiled once by the ORM for a stand-in owner id; each read puts the
  real owner's id among the parameters. The statement's text is the ORM's own.
Both turn rows into the same model instances, related objects cached on each other, as
`select_related` would (the database's converters applied), so templates see no difference.
Table and column names come from the models only; values are never part of a statement's text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Model


@dataclass
class _Join:
    """One table of a statement: the model read, its alias, and how its object hangs on its parent's."""

    model: type[Model]
    alias: str
    parent: int  # index of the parent join, -1 for the statement's own table
    clause: str  # the JOIN clause ("" for the statement's own table)
    attach: Callable[[Any, Any], None] | None = None  # (parent object, this object or None)
    start: int = 0  # first column of this table in the row
    pk_at: int = 0  # the primary key's column in the row
    width: int = 0
    attnames: list[str] = field(default_factory=list)
    converters: list[tuple[int, list[Any], Any]] = field(default_factory=list)


class Statement:
    """A `SELECT` of a model and related tables (forward foreign keys and reverse one-to-ones,
    as in `select_related`), written once; `extra` columns (SQL expressions of the base table,
    alias `t0`) come after the base table's and are set as attributes of its object."""

    def __init__(
        self,
        model: type[Model],
        paths: Sequence[str],
        *,
        extra: Sequence[tuple[str, str]] = (),
        inner: Sequence[str] = (),
        known: Sequence[str] = (),
        many: str = "",
    ) -> None:
        q = quote
        self.joins: list[_Join] = [_Join(model, "t0", -1, "")]
        self.by_path: dict[str, int] = {"": 0}
        for path in paths:
            parts = path.split("__")
            for depth in range(len(parts)):
                sub = "__".join(parts[: depth + 1])
                if sub in self.by_path:
                    continue
                parent_index = self.by_path["__".join(parts[:depth])]
                parent = self.joins[parent_index]
                rel: Any = parent.model._meta.get_field(parts[depth])
                alias = f"t{len(self.joins)}"
                target: Any = rel.related_model
                table = q(target._meta.db_table)
                if rel.concrete:  # a forward foreign key or one-to-one
                    kind = "INNER" if sub in inner else "LEFT OUTER"
                    on = f"{alias}.{q(rel.target_field.column)} = {parent.alias}.{q(rel.column)}"
                    attach = _forward(rel)
                else:  # a reverse one-to-one
                    kind = "LEFT OUTER"
                    remote = rel.field
                    on = f"{alias}.{q(remote.column)} = {parent.alias}.{q(remote.target_field.column)}"
                    attach = _reverse(rel)
                clause = f"{kind} JOIN {table} {alias} ON ({on})"
                self.joins.append(_Join(target, alias, parent_index, clause, attach))
                self.by_path[sub] = len(self.joins) - 1
        columns: list[str] = []
        self.extra = [name for name, _ in extra]
        self.known = [self.by_path[path] for path in known]
        for index, join in enumerate(self.joins):
            self._columns(join, [] if index in self.known else join.model._meta.concrete_fields, columns)
            if index == 0:
                self.extra_at = len(columns)
                columns.extend(f"({sql}) AS {q(name)}" for name, sql in extra)
        # `many`: a reverse foreign key of the statement's own table (a case's visits), joined
        # last; the statement then gives one row per related row (one row of NULLs without
        # any), the other tables' columns repeated on each: `many_objects` reads them.
        self.many: _Join | None = None
        self.many_cache = ""
        if many:
            reverse: Any = model._meta.get_field(many)
            remote = reverse.field
            join = _Join(reverse.related_model, f"t{len(self.joins)}", 0, "")
            join.clause = (
                f"LEFT OUTER JOIN {q(join.model._meta.db_table)} {join.alias} "
                f"ON ({join.alias}.{q(remote.column)} = t0.{q(remote.target_field.column)})"
            )
            self._columns(join, join.model._meta.concrete_fields, columns)
            self.many, self.many_cache = join, remote.cache_name
        self.head = (
            f"SELECT {', '.join(columns)} FROM {q(model._meta.db_table)} t0 "  # noqa: S608 (names from the models)
            + " ".join(j.clause for j in [*self.joins[1:], *([self.many] if self.many else [])])
        )

    @staticmethod
    def _columns(join: _Join, fields: Sequence[Any], columns: list[str]) -> None:
        """The join's columns appended to `columns`, with where they start and how to convert them."""
        join.start = len(columns)
        join.width = len(fields)
        join.attnames = [f.attname for f in fields]
        for offset, f in enumerate(fields):
            col = f.get_col(join.alias)
            convs = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
            if convs:
                join.converters.append((offset, convs, col))
            if f.primary_key:
                join.pk_at = join.start + offset
            columns.append(f"{join.alias}.{quote(f.column)}")

    @staticmethod
    def _build(join: _Join, row: Sequence[Any], db: str) -> Any:
        """The join's object from its columns of `row`, the database's converters applied."""
        values = list(row[join.start : join.start + join.width])
        for offset, convs, col in join.converters:
            value = values[offset]
            for convert in convs:
                value = convert(value, col, connection)
            values[offset] = value
        return join.model.from_db(db, join.attnames, values)

    def many_objects(self, rows: Sequence[Sequence[Any]], parent: Any) -> list[Any]:
        """The `many` table's objects of the statement's rows (none for a row of NULLs), in the
        rows' order, each with its foreign key's cache set to `parent` (the row's own object)."""
        join = self.many
        assert join is not None
        cache_name = self.many_cache
        out = []
        for row in rows:
            if row[join.pk_at] is None:
                continue
            obj = self._build(join, row, connection.alias)
            obj._state.fields_cache[cache_name] = parent
            out.append(obj)
        return out

    def many_column(self, name: str) -> str:
        """A column of the `many` table, by its field's name, for an ORDER BY."""
        assert self.many is not None
        found: Any = self.many.model._meta.get_field(name)
        return f"{self.many.alias}.{quote(found.column)}"

    def alias(self, path: str) -> str:
        """The alias of the table reached by `path` ("" for the statement's own, `t0`)."""
        return self.joins[self.by_path[path]].alias

    def column(self, name: str, path: str = "") -> str:
        """A column of the table reached by `path`, by its field's name, for a WHERE clause."""
        join = self.joins[self.by_path[path]]
        found: Any = join.model._meta.get_field(name)
        return f"{join.alias}.{quote(found.column)}"

    def objects(
        self, row: Sequence[Any], known: Sequence[Any] = (), shared: dict[tuple[int, Any], Any] | None = None
    ) -> list[Any]:
        """The objects of one row, one per table (None for a table its outer join found no row
        in), related objects cached on each other as `select_related` does; the `known` paths'
        objects are the caller's (in the order given), read before and not changed. With
        `shared` (a dict kept across the rows of one read, for statements whose joins are all
        forward foreign keys), a joined table's object is built once per primary key and the
        same instance hung on every row that names it (an event's actor, the same person on
        most rows of a history)."""
        db = connection.alias
        given = dict(zip(self.known, known, strict=True))
        out: list[Any] = []
        for index, join in enumerate(self.joins):
            if index in given:
                out.append(given[index])
                continue
            parent = out[join.parent] if index else None
            if index and parent is None:
                out.append(None)
                continue
            pk = row[join.pk_at]
            if pk is None:
                obj = None
            elif index and shared is not None and (index, pk) in shared:
                obj = shared[index, pk]
            else:
                obj = self._build(join, row, db)
                if index and shared is not None:
                    shared[index, pk] = obj
            if join.attach is not None:
                join.attach(parent, obj)
            out.append(obj)
        base = out[0]
        for offset, name in enumerate(self.extra):
            setattr(base, name, row[self.extra_at + offset])
        return out


def _forward(rel: Any) -> Callable[[Any, Any], None]:
    name = rel.cache_name
    remote = rel.remote_field.cache_name if rel.one_to_one else None

    def attach(parent: Any, obj: Any) -> None:
        parent._state.fields_cache[name] = obj
        if remote is not None and obj is not None:
            obj._state.fields_cache[remote] = parent

    return attach


def _reverse(rel: Any) -> Callable[[Any, Any], None]:
    name, remote = rel.cache_name, rel.field.cache_name

    def attach(parent: Any, obj: Any) -> None:
        parent._state.fields_cache[name] = obj
        if obj is not None:
            obj._state.fields_cache[remote] = parent

    return attach


def quote(name: Any) -> str:
    """A table's or column's name quoted for this database (names from the models only)."""
    return connection.ops.quote_name(str(name))


def read_cursor() -> Any:
    """A cursor for a statement written once per process. On PostgreSQL with
    `DB_PREPARED_READS` the statement is prepared on its connection at its first execution and
    run by name afterwards: planned once per connection instead of on every read (the case page's
    reads took 0.6–1.5 ms each to plan and 0.05–0.25 ms to run). Only for statements whose values
    are ids, states and the like, for which PostgreSQL's generic plan is the plan it would make for
    each value; never for a read that finds its rows by a branch subtree's `LIKE` (README,
    "Statements: bound on the client"), though a row found by its key may be checked against the
    reader's subtree (the case page's case row), and the subtree may be an init plan
    (`branch_id = ANY(ARRAY(SELECT … LIKE %s))`: its branch ids are read before any row is found,
    so PostgreSQL's estimate of the rows is the same for every value: head-office tech's queue)."""
    make = getattr(connection, "prepared_cursor", None)
    if make is not None and settings.DB_PREPARED_READS:
        return make()
    return connection.cursor()


def fetch_one(statement: Statement, where: str, params: Sequence[Any], known: Sequence[Any] = ()) -> list[Any] | None:
    """The objects of the statement's one row matching `where` (placeholders for every value), or None."""
    with read_cursor() as cursor:
        cursor.execute(f"{statement.head} WHERE {where}", params)
        row = cursor.fetchone()
    return None if row is None else statement.objects(row, known)


def like_prefix(value: str) -> tuple[str, str]:
    """`column LIKE %s` for "starts with `value`" on this database, and its parameter."""
    operators: dict[str, str] = connection.operators  # type: ignore[attr-defined]
    return operators["startswith"], connection.ops.prep_for_like_query(value) + "%"


# Ids no row has: the places of the owners' ids among a compiled statement's parameters.
_OWNER = -7_654_321


class Prepared:
    """One owner's rows (a case's events, visits, results; or of two owners: a person's notices
    of a case) by a queryset compiled once per process: the ORM writes the statement for
    stand-in owner ids, and each read puts the real ones in their places among the parameters
    and turns the rows into objects as the queryset would (`Statement.objects`: the model's
    columns, then each `select_related` table's). The statement is the ORM's own, so it is the
    same text as before; only the building is saved (about 1 ms of CPU a read)."""

    def __init__(
        self, build: Callable[..., Any], model: type[Model], paths: Sequence[str] = (), owners: int = 1
    ) -> None:
        stand_ins = [_OWNER - k for k in range(owners)]
        query = build(*stand_ins).query
        compiler = query.get_compiler(connection.alias)
        sql, params = compiler.as_sql()
        self.shape = Statement(model, paths)
        width = sum(j.width for j in self.shape.joins)
        if len(compiler.select) != width or query.annotations or query.extra:
            raise ValueError(f"not a plain select of {model.__name__} with {paths}")  # a programming error
        self.sql, self.params = sql, list(params)
        self.slots = [(i, stand_ins.index(p)) for i, p in enumerate(self.params) if type(p) is int and p in stand_ins]
        if {k for _, k in self.slots} != set(range(owners)):
            raise ValueError("an owner's id is not a parameter")

    def rows(self, *owner_ids: int, share: bool = False) -> list[list[Any]]:
        """Each row's objects (`Statement.objects`) for these owners; `share`: each joined
        table's object built once per primary key (forward foreign keys only)."""
        params = list(self.params)
        for i, k in self.slots:
            params[i] = owner_ids[k]
        shared: dict[tuple[int, Any], Any] | None = {} if share else None
        with read_cursor() as cursor:
            cursor.execute(self.sql, params)
            return [self.shape.objects(row, shared=shared) for row in cursor.fetchall()]


_prepared: dict[tuple[str, str], Prepared] = {}


def prepared(
    name: str, build: Callable[..., Any], model: type[Model], paths: Sequence[str] = (), owners: int = 1
) -> Prepared:
    """The `Prepared` read called `name` on this database, compiled at its first use."""
    key = (connection.vendor, name)
    found = _prepared.get(key)
    if found is None:
        found = _prepared[key] = Prepared(build, model, paths, owners)
    return found
