"""What the store holds, for `stats`, `/metrics` and the checks on a question's input:
rows per table, the recorded span, the kinds, the sources and their state.

None of it counts a history table: the counts are kept as rows come and go.
"""

from __future__ import annotations

from vtrail.store.interfaces import Store


class StatsReader:
    def __init__(self, store: Store) -> None:
        self.c = store.conn

    def counts(self) -> dict[str, int]:
        """Rows per table. The history tables' are kept as they change (`tally`, 0011) and
        the journal's per source (0006): no count runs over millions of rows."""
        kept = {str(k): int(n) for k, n in self.c.execute("SELECT name, n FROM tally")}
        journal, sources = self.c.execute(
            "SELECT ifnull(sum(observations), 0), count(*) FROM source"
        ).fetchone()
        return {
            "entity": kept["entity"],
            "version": kept["version"],
            "relation": kept["relation"],
            "sample": kept["sample"],
            "journal": int(journal),
            "source": int(sources),
            "checkpoint": int(self.c.execute("SELECT count(*) FROM checkpoint").fetchone()[0]),
            # The open blocks are one per series; the sealed ones are kept in `tally`.
            "sample_readings": kept["sample_readings"]
            + int(self.c.execute("SELECT ifnull(sum(n), 0) FROM sample_open").fetchone()[0]),
            # A range of the `version_to` index: as long as the live set, not the history.
            "live_entities": int(
                self.c.execute("SELECT count(*) FROM version WHERE valid_to IS NULL").fetchone()[0]
            ),
        }

    def span(self) -> tuple[int, int] | None:
        # Two subqueries: SQLite answers a lone min() or max() from the index's
        # ends, but scans the whole journal for both in one.
        row = self.c.execute(
            "SELECT (SELECT min(observed_at) FROM journal), (SELECT max(observed_at) FROM journal)"
        ).fetchone()
        return (int(row[0]), int(row[1])) if row and row[0] is not None else None

    def has_kind(self, kind: str) -> bool:
        """Whether any entity of `kind` was ever recorded: one seek in `entity_kind`."""
        row = self.c.execute("SELECT 1 FROM entity WHERE kind = ? LIMIT 1", (kind,))
        return row.fetchone() is not None

    def recorded_kinds(self) -> list[str]:
        return [str(k) for (k,) in self.c.execute("SELECT DISTINCT kind FROM entity")]

    def kinds(self) -> dict[str, int]:
        rows = self.c.execute(
            "SELECT e.kind, count(*) FROM version v JOIN entity e ON e.id = v.entity "
            "WHERE v.valid_to IS NULL GROUP BY e.kind ORDER BY e.kind"
        )
        return {str(k): int(n) for k, n in rows}

    def sources(self) -> list[tuple[str, int, int, str, int]]:
        """(name, observations, last observed_at, last kind, what it reports alive now)
        per source."""
        # Each a seek, whatever the journal's length: counts are kept per batch, the
        # last observation is the end of the (source, observed_at) index.
        rows = self.c.execute(
            "SELECT * FROM (SELECT s.name, s.observations, "
            "(SELECT max(observed_at) FROM journal WHERE source = s.id) AS last, "
            "(SELECT kind FROM journal WHERE source = s.id ORDER BY observed_at DESC LIMIT 1), "
            "EXISTS (SELECT 1 FROM claim WHERE source = s.id AND until IS NULL) "
            "FROM source s) AS sources WHERE last IS NOT NULL ORDER BY name"
        )
        return [(str(n), int(c), int(t), str(k), int(a)) for n, c, t, k, a in rows]
