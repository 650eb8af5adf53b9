"""A PostgreSQL store populated by COPY from a SQLite store a recorder wrote: the rows
the recorder would have written to the server, in seconds instead of hours.

bench/stores.py records its history once, into SQLite (the recorder at its
fastest), and copies it here to compare the two stores at 1M versions. The
stores share one schema and the recorder writes the same rows to both; what
differs is said where it is converted:

- a journal body kept as text is, on PostgreSQL, its UTF-8 bytes with `base`
  0 (store/bodies.py);
- a float bound for a NUMERIC column goes to the server as a float8, which it
  casts with 15 significant digits: the copy rounds it so too;
- the ids and sequences the server hands out continue after the copied rows.

`same_rows` compares two stores row by row; bench/stores.py and
tests/pg/test_pg_copy.py check with it that a copied history equals the one the
recorder writes to the server itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from vtrail.store import Store
from vtrail.store.postgres import PostgresStore
from vtrail.store.sqlite import SqliteStore

#: Not history: which migrations ran, and when, is each store's own.
SKIPPED = {"migration"}
#: When a row was recorded is the one thing no two recordings share.
WALL_CLOCK = {("journal", "recorded_at"), ("push_stream", "at"), ("token", "created_at")}
#: Columns whose next value a sequence gives, by table.
SEQUENCES = {"journal": ("journal_seq", "seq"), "sample": ("sample_rowid", "rowid")}

Convert = Callable[[Sequence[Any]], Sequence[Any]]


def tables(pg: PostgresStore) -> dict[str, list[tuple[str, str]]]:
    """Each table of the store (partitions are their parent's) with its columns and types."""
    out: dict[str, list[tuple[str, str]]] = {}
    rows = pg.conn.execute(
        "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
        "JOIN pg_class k ON k.oid = to_regclass(c.table_name) "
        "WHERE c.table_schema = current_schema() AND NOT k.relispartition "
        "AND k.relkind IN ('r', 'p') ORDER BY c.table_name, c.ordinal_position"
    )
    for table, column, kind in rows:
        if table not in SKIPPED:
            out.setdefault(table, []).append((column, kind))
    return out


def _converter(table: str, columns: list[tuple[str, str]]) -> Convert | None:
    numeric = [i for i, (_, kind) in enumerate(columns) if kind == "numeric"]
    names = [c for c, _ in columns]
    if table == "journal":
        body, base = names.index("body"), names.index("base")

        def journal(row: Sequence[Any]) -> Sequence[Any]:
            if isinstance(row[body], str):
                row = list(row)
                row[body], row[base] = row[body].encode(), 0
            return row

        return journal
    if numeric:

        def rounded(row: Sequence[Any]) -> Sequence[Any]:
            row = list(row)
            for i in numeric:
                if isinstance(row[i], float):
                    row[i] = format(row[i], ".15g")
            return row

        return rounded
    return None


#: Tables the server keeps in another form than SQLite: what SQLite's rows become.
OTHER_FORM = {"tally_part": "SELECT name, 0, n FROM tally"}


def _rows(lite: SqliteStore, table: str, names: list[str]) -> Iterator[Sequence[Any]]:
    yield from lite.conn.execute(OTHER_FORM.get(table, f"SELECT {', '.join(names)} FROM {table}"))


def copy(lite: SqliteStore, pg: PostgresStore) -> dict[str, int]:
    """Every table of `lite` into the freshly migrated `pg`, by COPY, in one transaction;
    rows copied per table."""
    schema = tables(pg)
    raw = pg.conn.raw
    counts: dict[str, int] = {}
    with raw.transaction():
        # The copied rows already count themselves in `tally`: no trigger counts them again.
        raw.execute("SET LOCAL session_replication_role = replica")
        for table, columns in schema.items():
            names = [c for c, _ in columns]
            convert = _converter(table, columns)
            raw.execute(f"TRUNCATE {table}")
            n = 0
            with (
                raw.cursor() as cur,
                cur.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as cp,
            ):
                for row in _rows(lite, table, names):
                    cp.write_row(convert(row) if convert else row)
                    n += 1
            counts[table] = n
        for table, columns in schema.items():
            if any(c == "id" for c, _ in columns) and table not in ("applied", "journal_horizon"):
                seq = raw.execute("SELECT pg_get_serial_sequence(%s, 'id')", (table,)).fetchone()
                if seq and seq[0]:
                    _continue(raw, seq[0], table, "id")
        for table, (seq, column) in SEQUENCES.items():
            _continue(raw, seq, table, column)
        raw.execute("ANALYZE")
    return counts


def _continue(raw: Any, sequence: str, table: str, column: str) -> None:
    """The sequence hands out the value after the largest copied."""
    raw.execute(
        f"SELECT setval(%s, coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)",
        (sequence,),
    )


def content(store: PostgresStore) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted, without the wall-clock columns."""
    out = {}
    for table, columns in tables(store).items():
        names = [c for c, _ in columns if (table, c) not in WALL_CLOCK]
        if table == "tally_part":  # each writer adds to a part of its own: the sums count
            names = ["name", "0", "sum(n)"]
        what = f"SELECT {', '.join(names)} FROM {table}"
        rows = store.conn.raw.execute(what + (" GROUP BY name" if table == "tally_part" else ""))
        rows = rows.fetchall()
        out[table] = sorted(rows, key=repr)
    return out


def same_rows(a: Store, b: Store) -> list[str]:
    """Where two PostgreSQL stores differ, a line per table; empty when they hold the
    same rows (ids included)."""
    assert isinstance(a, PostgresStore) and isinstance(b, PostgresStore)
    x, y = content(a), content(b)
    out = []
    for table in sorted(x.keys() | y.keys()):
        rx, ry = x.get(table, []), y.get(table, [])
        if rx != ry:
            first = next((i for i, (p, q) in enumerate(zip(rx, ry, strict=False)) if p != q), None)
            shown = f"{rx[first]!r} != {ry[first]!r}" if first is not None else ""
            out.append(f"{table}: {len(rx)} rows against {len(ry)} {shown}"[:300])
    return out
