"""Finding ids: by an exact name or MAC (each a seek in an index), or by part of any of them.

`query.names` resolves what a user typed through the seeks; `query.search` (the
page's search box) matches text anywhere in an id, a name or a MAC.
"""

from __future__ import annotations

from vtrail.store.interfaces import Store


class SearchReader:
    def __init__(self, store: Store) -> None:
        self.c = store.conn

    def by_attr(self, name: str, value: str) -> list[int]:
        """Entities that carried `name` = `value` (names and MACs), by the `label` key."""
        rows = self.c.execute("SELECT entity FROM label WHERE key = ? AND value = ?", (name, value))
        return [int(r[0]) for r in rows]

    def nics_with_mac(self, mac: str) -> list[str]:
        """Every NIC whose id ends in `/<mac>` (nic:<uuid>/<mac>), by the index of 0011."""
        rows = self.c.execute(
            "SELECT eid FROM entity WHERE kind = 'nic' AND lower(substr(eid, -18)) = ? LIMIT 50",
            ("/" + mac.lower(),),
        )
        return [str(r[0]) for r in rows]

    def containing(self, text: str, limit: int) -> list[tuple[str, str, str | None]]:
        """(id, kind, name) of entities whose id, name or MAC contains `text` (addresses
        are entities, `ip:<address>`, so an IP matches by id). Text anywhere in a value
        has no index to seek: this one reads every id and label."""
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self.c.execute(
            "WITH hit AS (SELECT id FROM entity WHERE eid LIKE :p ESCAPE '\\' "
            "UNION SELECT entity FROM label WHERE value LIKE :p ESCAPE '\\'), "
            "named AS (SELECT e.eid, e.kind, (SELECT value FROM label WHERE entity = e.id "
            "AND key = 'name' LIMIT 1) AS name FROM hit JOIN entity e ON e.id = hit.id) "
            # A name typed in full first, then names and ids it begins, then the shortest.
            # A test is a boolean on PostgreSQL and cannot default to 0 as on SQLite: a
            # missing name answers false by `IS NOT NULL AND`.
            "SELECT eid, kind, name FROM named ORDER BY (name IS NOT NULL AND name = :t) DESC, "
            "(name IS NOT NULL AND name LIKE :q ESCAPE '\\') DESC, "
            "substr(eid, instr(eid, ':') + 1) LIKE :q ESCAPE '\\' DESC, length(eid), eid "
            "LIMIT :n",
            {"p": pattern, "q": pattern[1:], "t": text, "n": limit},
        )
        return [(str(a), str(b), None if c is None else str(c)) for a, b, c in rows]
