"""The case page's case row: two statements written once per process (issue 26).

`selectors.case_page_get` read the case and its one-to-ones through the ORM in two queries of a
few joined tables each; building those two statements and their objects cost Django about
2.5 ms of CPU per page (5–7 ms under cProfile), several times their running. The same two
statements are written here once from the models' metadata (table and column names only: the
reader's scope and the case's id are parameters, never part of the text) and their rows turned
into the same model instances, with the same related objects cached on them, as
`select_related` would: the templates and panels see no difference.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

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
    ) -> None:
        q = connection.ops.quote_name
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
                rel = parent.model._meta.get_field(parts[depth])
                alias = f"t{len(self.joins)}"
                target = rel.related_model
                table = q(target._meta.db_table)  # type: ignore[union-attr]
                if rel.concrete:  # a forward foreign key or one-to-one
                    kind = "INNER" if sub in inner else "LEFT OUTER"
                    on = f"{alias}.{q(rel.target_field.column)} = {parent.alias}.{q(rel.column)}"  # type: ignore[union-attr]
                    attach = _forward(rel)
                else:  # a reverse one-to-one
                    kind = "LEFT OUTER"
                    remote = rel.field  # type: ignore[union-attr]
                    on = f"{alias}.{q(remote.column)} = {parent.alias}.{q(remote.target_field.column)}"
                    attach = _reverse(rel)
                clause = f"{kind} JOIN {table} {alias} ON ({on})"
                self.joins.append(_Join(target, alias, parent_index, clause, attach))  # type: ignore[arg-type]
                self.by_path[sub] = len(self.joins) - 1
        columns: list[str] = []
        self.extra = [name for name, _ in extra]
        self.known = [self.by_path[path] for path in known]
        for index, join in enumerate(self.joins):
            join.start = len(columns)
            fields = [] if index in self.known else join.model._meta.concrete_fields
            join.width = len(fields)
            for offset, f in enumerate(fields):
                col = f.get_col(join.alias)
                convs = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
                if convs:
                    join.converters.append((offset, convs, col))
                if f.primary_key:
                    join.pk_at = join.start + offset
                columns.append(f"{join.alias}.{q(f.column)}")
            if index == 0:
                self.extra_at = len(columns)
                columns.extend(f"({sql}) AS {q(name)}" for name, sql in extra)
        self.head = (
            f"SELECT {', '.join(columns)} FROM {q(model._meta.db_table)} t0 "  # noqa: S608 (names from the models)
            + " ".join(j.clause for j in self.joins[1:])
        )

    def alias(self, path: str) -> str:
        """The alias of the table reached by `path` ("" for the statement's own, `t0`)."""
        return self.joins[self.by_path[path]].alias

    def column(self, name: str, path: str = "") -> str:
        """A column of the table reached by `path`, by its field's name, for a WHERE clause."""
        join = self.joins[self.by_path[path]]
        return f"{join.alias}.{connection.ops.quote_name(join.model._meta.get_field(name).column)}"

    def objects(self, row: Sequence[Any], known: Sequence[Any] = ()) -> list[Any]:
        """The objects of one row, one per table (None for a table its outer join found no row
        in), related objects cached on each other as `select_related` does; the `known` paths'
        objects are the caller's (in the order given), read before and not changed."""
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
            if row[join.pk_at] is None:
                obj = None
            else:
                values = list(row[join.start : join.start + join.width])
                for offset, convs, col in join.converters:
                    value = values[offset]
                    for convert in convs:
                        value = convert(value, col, connection)
                    values[offset] = value
                obj = join.model.from_db(db, None, values)
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


def fetch_one(statement: Statement, where: str, params: Sequence[Any], known: Sequence[Any] = ()) -> list[Any] | None:
    """The objects of the statement's one row matching `where` (placeholders for every value), or None."""
    with connection.cursor() as cursor:
        cursor.execute(f"{statement.head} WHERE {where}", params)
        row = cursor.fetchone()
    return None if row is None else statement.objects(row, known)


@functools.cache
def _statements(vendor: str, relations: tuple[str, ...]) -> tuple[Statement, Statement]:
    from companies.models import CompanyVersion

    from .models import ChangeRequest, OnboardingCase

    q = connection.ops.quote_name
    case = OnboardingCase._meta
    versions, requests = CompanyVersion._meta, ChangeRequest._meta
    latest = (
        f"SELECT v.{q(versions.pk.column)} FROM {q(versions.db_table)} v "  # noqa: S608 (names from the models)
        f"WHERE v.{q(versions.get_field('enterprise').column)} = t0.{q(case.get_field('enterprise').column)} "
        f"ORDER BY v.{q(versions.get_field('number').column)} DESC LIMIT 1"
    )
    exists = (
        f"EXISTS(SELECT 1 FROM {q(requests.db_table)} r "  # noqa: S608 (names from the models)
        f"WHERE r.{q(requests.get_field('case').column)} = t0.{q(case.pk.column)})"
    )
    row = Statement(
        OnboardingCase,
        ["enterprise", "company_version", "branch", "account_manager", "current_visit"],
        extra=[("latest_company_version_id", latest), ("has_change_requests", exists)],
        inner=["enterprise", "branch"],
    )
    others = Statement(
        OnboardingCase,
        ["branch__parent", "test_package__recorded_by", "production_config__recorded_by", *relations],
        inner=["branch"],
        known=["", "branch"],
    )
    return row, others


def statements() -> tuple[Statement, Statement]:
    """The case row's two statements: the case with its company, company version, branch,
    account manager and current visit (and two facts about its company data); then its
    one-to-ones, the branch's parent and `page_reads.page_relations`."""
    from .page_reads import page_relations

    return _statements(connection.vendor, tuple(page_relations))


def like_prefix(value: str) -> tuple[str, str]:
    """`column LIKE %s` for "starts with `value`" on this database, and its parameter."""
    return connection.operators["startswith"], connection.ops.prep_for_like_query(value) + "%"


# An id no row has: the place of the owner's id among a compiled statement's parameters.
_OWNER = -7_654_321


class Prepared:
    """One owner's rows (a case's events, visits, results) by a queryset compiled once per
    process: the ORM writes the statement for a stand-in owner id, and each read puts the
    real one in its place among the parameters and turns the rows into objects as the
    queryset would (`Statement.objects`: the model's columns, then each `select_related`
    table's). The statement is the ORM's own, so it is the same text as before; only the
    building is saved (about 1 ms of CPU a read)."""

    def __init__(self, build: Callable[[int], Any], model: type[Model], paths: Sequence[str] = ()) -> None:
        query = build(_OWNER).query
        compiler = query.get_compiler(connection.alias)
        sql, params = compiler.as_sql()
        self.shape = Statement(model, paths)
        width = sum(j.width for j in self.shape.joins)
        if len(compiler.select) != width or query.annotations or query.extra:
            raise ValueError(f"not a plain select of {model.__name__} with {paths}")  # a programming error
        self.sql, self.params = sql, list(params)
        self.slots = [i for i, p in enumerate(self.params) if type(p) is int and p == _OWNER]
        if not self.slots:
            raise ValueError("the owner's id is not a parameter")

    def rows(self, owner_id: int) -> list[list[Any]]:
        """Each row's objects (`Statement.objects`) for this owner."""
        params = list(self.params)
        for i in self.slots:
            params[i] = owner_id
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            return [self.shape.objects(row) for row in cursor.fetchall()]


_prepared: dict[tuple[str, str], Prepared] = {}


def prepared(name: str, build: Callable[[int], Any], model: type[Model], paths: Sequence[str] = ()) -> Prepared:
    """The `Prepared` read called `name` on this database, compiled at its first use."""
    key = (connection.vendor, name)
    found = _prepared.get(key)
    if found is None:
        found = _prepared[key] = Prepared(build, model, paths)
    return found


def prime_visits(case: Any) -> None:
    """`prefetch_related_objects([case], "visits")` from a statement compiled once: the stage
    tracker and the time split read `case.visits.all()`."""
    from .models import StageVisit

    if "visits" in getattr(case, "_prefetched_objects_cache", {}):
        return
    read = prepared("visits", lambda owner: StageVisit.objects.filter(case_id=owner), StageVisit)
    visits = [objects[0] for objects in read.rows(case.pk)]
    remote = StageVisit._meta.get_field("case").cache_name
    for visit in visits:
        visit._state.fields_cache[remote] = case
    qs = case.visits.all()
    qs._result_cache = visits
    qs._prefetch_done = True
    if not hasattr(case, "_prefetched_objects_cache"):
        case._prefetched_objects_cache = {}
    case._prefetched_objects_cache["visits"] = qs
