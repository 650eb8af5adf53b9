"""A statement's held rows as one set-based statement (store/pgconn.py, `PgConn.defer`).

psycopg sends an `executemany` as one statement per row: each is bound, run
and answered on its own, which costs the recorder's process and the server
more than the row's work itself. The same rows go as one statement instead,
each parameter as an array of its values, taken apart by `unnest`:

    INSERT INTO t (a, b, c) VALUES (%s, NULL, %s) ON CONFLICT ...
    INSERT INTO t (a, b, c) SELECT u.p1, NULL, u.p2
        FROM unnest(CAST(%s AS BIGINT[]), CAST(%s AS TEXT[])) AS u(p1, p2) ON CONFLICT ...

    UPDATE t SET a = %s WHERE k = %s          DELETE FROM t WHERE k = %s
    UPDATE t SET a = u.p1 FROM unnest(...)    DELETE FROM t USING unnest(...)
        AS u(p1, p2) WHERE k = u.p2               AS u(p1) WHERE k = u.p1

Each array's type is its column's. The rows must each be a row of their own:
two updates of one row in one statement would leave either (`defer` sends
what it holds before a row is written twice). A statement of another shape,
or whose marks are not each a column's value, is left to `executemany`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

#: A table's columns and their types, in order.
Columns = Callable[[str], list[tuple[str, str]]]

_INSERT = re.compile(
    r"^\s*INSERT INTO (\w+)\s*(?:\(([^)]*)\))?\s*VALUES\s*\(([^()]*)\)(.*)$", re.S | re.I
)
_UPDATE = re.compile(r"^\s*UPDATE (\w+) SET (.*?) WHERE (.*)$", re.S | re.I)
_DELETE = re.compile(r"^\s*DELETE FROM (\w+) WHERE (.*)$", re.S | re.I)
#: A mark that is a column's value: `col = %s`, or an addition to it.
_MARKED = re.compile(r"\b(\w+) = (?:\w+ \+ )?%s")


def as_set(text: str, columns: Columns) -> str | None:
    """`text` (PostgreSQL's, `%s` marks) as one statement over arrays of its marks'
    values, in their order; None when it is not of a shape this knows."""
    if (m := _INSERT.match(text)) is not None:
        table, cols, values, rest = m.groups()
        known = columns(table)
        names = [c.strip() for c in cols.split(",")] if cols else [c for c, _ in known]
        items = [v.strip() for v in values.split(",")]
        if len(items) != len(names):
            return None
        types = dict(known)
        found = [types.get(n) for n, v in zip(names, items, strict=True) if v == "%s"]
        inserted = [t for t in found if t is not None]
        if len(inserted) != text.count("%s"):
            return None
        marks = iter(range(1, len(inserted) + 1))
        chosen = ", ".join(f"u.p{next(marks)}" if v == "%s" else v for v in items)
        target = f"{table} ({cols})" if cols else table
        return f"INSERT INTO {target} SELECT {chosen} FROM {_unnest(inserted)}{rest}"
    if (m := _UPDATE.match(text)) is not None:
        table, sets, where = m.groups()
        marked = _marked(f"{sets} WHERE {where}", columns(table), text)
        if marked is None:
            return None
        sets, where = _numbered(sets, 1), _numbered(where, 1 + sets.count("%s"))
        return f"UPDATE {table} SET {sets} FROM {_unnest(marked)} WHERE {where}"
    if (m := _DELETE.match(text)) is not None:
        table, where = m.groups()
        marked = _marked(where, columns(table), text)
        if marked is None:
            return None
        return f"DELETE FROM {table} USING {_unnest(marked)} WHERE {_numbered(where, 1)}"
    return None


def columns_of(rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """The rows' values, a list per mark: the set-based statement's parameters."""
    return [list(c) for c in zip(*rows, strict=True)]


def _marked(part: str, known: list[tuple[str, str]], text: str) -> list[str] | None:
    types = dict(known)
    marked = [t for col in _MARKED.findall(part) if (t := types.get(col)) is not None]
    return marked if len(marked) == text.count("%s") else None


def _numbered(part: str, first: int) -> str:
    n = iter(range(first, first + part.count("%s")))
    return re.sub("%s", lambda _: f"u.p{next(n)}", part)


def _unnest(types: list[str]) -> str:
    arrays = ", ".join(f"CAST(%b AS {t}[])" for t in types)
    names = ", ".join(f"p{i}" for i in range(1, len(types) + 1))
    return f"unnest({arrays}) AS u({names})"
