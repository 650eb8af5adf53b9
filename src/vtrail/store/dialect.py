"""Where SQLite's dialect and PostgreSQL's differ, in one place.

The store's readers and writers are written once, in SQLite's dialect (`?` and
`:name` marks, `ifnull`, scalar `max(a, b)`, `INSERT OR IGNORE`, `json_each`, a
`temp.` schema). `to_postgres` rewrites a statement for PostgreSQL; the adapter
in store/pgconn.py runs every statement through it, once per distinct text.
Each rule below is one difference, named by what it rewrites.

`Dialect` holds the few differences that are not in the text of a statement
but in what a column can hold; the store's code asks the connection's
`dialect` for them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    #: A column holds one type: a journal body that is text goes in as UTF-8 bytes
    #: (store/bodies.py marks it with base 0), where SQLite keeps a `str`.
    typed_columns: bool
    #: Each statement is a round trip to a server: asking a batch's keys in one
    #: statement pays. In process (SQLite) a statement per key is cheaper.
    remote: bool = False


SQLITE = Dialect("sqlite", typed_columns=False)
POSTGRES = Dialect("postgresql", typed_columns=True, remote=True)

#: The key `INSERT OR REPLACE` replaces on, per table it is used on.
_REPLACE_KEYS = {"sample_open": ("entity", "metric", "source")}
#: The column a table's `lastrowid` comes from.
ROW_IDS = {
    "entity": "id",
    "source": "id",
    "attr_keys": "id",
    "token": "id",
    "journal": "seq",
    "checkpoint": "id",
}

_WORDS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\bifnull\(", re.I), "coalesce("),
    # SQLite's CROSS JOIN is an inner join whose order the planner keeps.
    (re.compile(r"\bCROSS JOIN\b"), "JOIN"),
    (re.compile(r"\binstr\(", re.I), "strpos("),
    # SQLite's LIKE ignores ASCII case; PostgreSQL's ILIKE is the same question.
    (re.compile(r"\bLIKE\b"), "ILIKE"),
    # A NIC's MAC is the last 18 characters of its id; PostgreSQL's substr counts
    # a negative start before the string, not from its end.
    (re.compile(r"substr\((\w+), -(\d+)\)"), r"right(\1, \2)"),
    (re.compile(r"json_each\(([^()]*)\)"), r"json_array_elements_text(CAST(\1 AS json))"),
    (re.compile(r"json_extract\(([\w.]+), '\$\.(\w+)'\)"), r"(CAST(\1 AS json) ->> '\2')"),
    (
        re.compile(r"\btemp\.sqlite_schema WHERE name = '(\w+)'"),
        r"pg_class WHERE oid = to_regclass('pg_temp.\1')",
    ),
    (
        re.compile(
            r"\b(?:main\.|jnl\.)?sqlite_schema WHERE (?:type = 'table' AND )?name = '(\w+)'"
        ),
        r"pg_class WHERE oid = to_regclass('\1')",
    ),
    (
        re.compile(r"SELECT name FROM pragma_table_info\('(\w+)'(?:, '\w+')?\)"),
        r"SELECT column_name FROM information_schema.columns "
        r"WHERE table_schema = current_schema() AND table_name = '\1'",
    ),
    (re.compile(r"\btemp\."), "pg_temp."),
    (re.compile(r"\b(?:main|jnl)\.(?=[a-z_])"), ""),
    (re.compile(r"\bBEGIN IMMEDIATE\b"), "BEGIN"),
    # Microseconds outgrow a 32-bit INTEGER; a table SQLite keeps without a rowid
    # is what PostgreSQL always does.
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\s*WITHOUT ROWID"), ""),
]
_OR_IGNORE = re.compile(r"^\s*INSERT OR IGNORE INTO", re.I)
_OR_REPLACE = re.compile(r"^\s*INSERT OR REPLACE INTO (\w+)\s*\(([^)]*)\)", re.I)
_INSERT_INTO = re.compile(r"^\s*INSERT INTO (\w+)", re.I)
_SCALAR = re.compile(r"\b(max|min)\(", re.I)
#: `greatest(c, excluded.c)` in an upsert's SET: a bare `c` is the table's on SQLite,
#: ambiguous on PostgreSQL.
_UPSERT_EXTREMA = re.compile(r"\b(greatest|least)\((\w+), excluded\.\2\)")
_MARKS = re.compile(r"'(?:[^']|'')*'|\?|(?<!:):(\w+)|%")


def _scalar_extrema(sql: str) -> str:
    """`max(a, b)` (SQLite's scalar) → `greatest(a, b)`; `max(a)` stays an aggregate."""
    out, i = [], 0
    for m in _SCALAR.finditer(sql):
        depth, j, comma = 1, m.end(), False
        while j < len(sql) and depth:
            ch = sql[j]
            depth += ch == "("
            depth -= ch == ")"
            comma |= ch == "," and depth == 1
            j += 1
        if comma:
            out += [sql[i : m.start()], "greatest(" if m.group(1).lower() == "max" else "least("]
            i = m.end()
    return "".join(out) + sql[i:]


def _marks(sql: str) -> str:
    """`?` → `%s`, `:name` → `%(name)s`, a literal `%` doubled; quoted text kept."""

    def one(m: re.Match[str]) -> str:
        text = m.group(0)
        if text.startswith("'"):
            return text.replace("%", "%%")
        if text == "?":
            return "%s"
        if text == "%":
            return "%%"
        return f"%({m.group(1)})s"

    return _MARKS.sub(one, sql)


@lru_cache(maxsize=4096)
def to_postgres(sql: str, marks: bool = True) -> tuple[str, str | None]:
    """`(statement, id column)`: the statement in PostgreSQL's dialect, and for an
    INSERT into a table with a row id the column it now returns (its `lastrowid`).
    `marks`: it has parameters (psycopg reads `%` as a mark only then)."""
    for pattern, repl in _WORDS:
        sql = pattern.sub(repl, sql)
    sql = _scalar_extrema(sql)
    replaced = _OR_REPLACE.match(sql)
    if replaced:
        table, cols = replaced.group(1), [c.strip() for c in replaced.group(2).split(",")]
        keys = _REPLACE_KEYS[table]
        sets = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in keys)
        on = ", ".join(keys)
        sql = f"INSERT INTO {sql[replaced.start(1) :]} ON CONFLICT ({on}) DO UPDATE SET {sets}"
    elif _OR_IGNORE.match(sql):
        sql = _OR_IGNORE.sub("INSERT INTO", sql) + " ON CONFLICT DO NOTHING"
    insert = _INSERT_INTO.match(sql)
    if insert and "DO UPDATE SET" in sql:
        sql = _UPSERT_EXTREMA.sub(rf"\1({insert.group(1)}.\2, excluded.\2)", sql)
    rowid = ROW_IDS.get(insert.group(1)) if insert else None
    if rowid and "RETURNING" not in sql.upper():
        sql = f"{sql.rstrip().rstrip(';')} RETURNING {rowid}"
    return (_marks(sql) if marks else sql), rowid
