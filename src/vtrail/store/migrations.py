"""The schema, as named migrations applied in order and recorded in the store itself.

The four tables of DESIGN.md are the truth: `version`, `relation`, `sample`
(stored as delta-encoded blocks) and `journal`. The rest is bookkeeping that
can be rebuilt from the journal: `entity` and `source` intern the long ids,
`claim` keeps which source reported what over which interval (what a snapshot
closes), and `checkpoint` keeps the live set at instants so that a snapshot at
T costs the same whatever the length of the history.

The journal has lived in its own file, attached as `jnl`, since
`0005_journal_file` (store/sqlite.py says why); `applied` records how far the
history has taken it in, so that a crash between the two files' commits can be
repaired (`Recorder.recover`). Since `0009_journal_bodies` a body may be
packed, or a delta from its source's keyframe (store/bodies.py), and
`vtrail compact` may drop old ones (store/journal.py).

Never edit a migration that has shipped: add a new one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import NamedTuple


class Migration(NamedTuple):
    name: str
    sql: str
    #: Committed on its own before `sql`: for work in another file, which a
    #: transaction across files would not make atomic. Must be safe to repeat.
    prepare: str = ""
    #: As `prepare`, in Python, for a change that must look before it leaps to be
    #: safe to repeat (SQLite's ALTER TABLE has no IF NOT EXISTS). Run after it.
    prepare_fn: Callable[[sqlite3.Connection], None] | None = None


def _journal_bodies(c: sqlite3.Connection) -> None:
    """`payload` becomes `body`, which a packed body or a delta (`base` its keyframe)
    may hold as a BLOB (store/bodies.py); every existing body stays the text it was."""
    cols = {r[0] for r in c.execute("SELECT name FROM pragma_table_info('journal', 'jnl')")}
    if "payload" in cols:
        c.execute("ALTER TABLE jnl.journal RENAME COLUMN payload TO body")
    if "base" not in cols:
        c.execute("ALTER TABLE jnl.journal ADD COLUMN base INTEGER")
    # The keyframe each source's next delta is taken from.
    c.execute(
        "CREATE TABLE IF NOT EXISTS jnl.journal_base "
        "(source INTEGER PRIMARY KEY, seq INTEGER NOT NULL)"
    )
    # Bodies of observations before keep_from were dropped (`vtrail compact`) at `at`.
    c.execute(
        "CREATE TABLE IF NOT EXISTS jnl.journal_horizon (id INTEGER PRIMARY KEY CHECK (id = 1), "
        "keep_from INTEGER NOT NULL, at INTEGER NOT NULL)"
    )


MIGRATIONS: list[Migration] = [
    Migration(
        "0001_core",
        """
        CREATE TABLE entity (
            id   INTEGER PRIMARY KEY,
            eid  TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL
        );
        CREATE INDEX entity_kind ON entity(kind);
        CREATE TABLE source (
            id   INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE
        );
        -- Times are integer microseconds since the epoch; valid_to NULL = still so.
        CREATE TABLE version (
            entity         INTEGER NOT NULL,
            valid_from     INTEGER NOT NULL,
            valid_to       INTEGER,
            source         INTEGER NOT NULL,
            vanished_after INTEGER,
            attrs          TEXT NOT NULL,
            PRIMARY KEY (entity, valid_from)
        ) WITHOUT ROWID;
        CREATE INDEX version_from ON version(valid_from);
        CREATE INDEX version_to ON version(valid_to);
        CREATE TABLE relation (
            src            INTEGER NOT NULL,
            rel            TEXT NOT NULL,
            dst            INTEGER NOT NULL,
            valid_from     INTEGER NOT NULL,
            valid_to       INTEGER,
            source         INTEGER NOT NULL,
            vanished_after INTEGER,
            attrs          TEXT NOT NULL,
            PRIMARY KEY (src, rel, dst, valid_from)
        ) WITHOUT ROWID;
        CREATE INDEX relation_dst ON relation(dst, rel);
        CREATE INDEX relation_from ON relation(valid_from);
        CREATE INDEX relation_to ON relation(valid_to);
        -- Per-source presence: rel = '' and b = 0 for an entity claim.
        CREATE TABLE claim (
            a              INTEGER NOT NULL,
            rel            TEXT NOT NULL,
            b              INTEGER NOT NULL,
            source         INTEGER NOT NULL,
            since          INTEGER NOT NULL,
            until          INTEGER,
            vanished_after INTEGER,
            PRIMARY KEY (a, rel, b, source, since)
        ) WITHOUT ROWID;
        CREATE INDEX claim_open ON claim(source) WHERE until IS NULL;
        CREATE INDEX claim_dst ON claim(b, rel) WHERE rel != '' AND until IS NULL;
        CREATE INDEX claim_since ON claim(since);
        CREATE INDEX claim_until ON claim(until);
        -- Counter samples in blocks: delta-of-delta times, delta values (store/samples.py).
        -- Sealed blocks are written once, in rowid order, so their pages stay full;
        -- the block still filling lives in sample_open, one row per series.
        CREATE TABLE sample (
            entity   INTEGER NOT NULL,
            metric   TEXT NOT NULL,
            t0       INTEGER NOT NULL,
            t1       INTEGER NOT NULL,
            n        INTEGER NOT NULL,
            v_first  REAL NOT NULL,
            v_last   REAL NOT NULL,
            increase REAL NOT NULL,
            dt_last  INTEGER NOT NULL,
            data     BLOB NOT NULL
        );
        CREATE INDEX sample_series ON sample(entity, metric, t0);
        CREATE TABLE sample_open (
            entity   INTEGER NOT NULL,
            metric   TEXT NOT NULL,
            t0       INTEGER NOT NULL,
            t1       INTEGER NOT NULL,
            n        INTEGER NOT NULL,
            v_first  REAL NOT NULL,
            v_last   REAL NOT NULL,
            increase REAL NOT NULL,
            dt_last  INTEGER NOT NULL,
            data     BLOB NOT NULL,
            PRIMARY KEY (entity, metric)
        ) WITHOUT ROWID;
        CREATE TABLE journal (
            seq         INTEGER PRIMARY KEY,
            source      INTEGER NOT NULL,
            kind        TEXT NOT NULL,
            observed_at INTEGER NOT NULL,
            recorded_at INTEGER NOT NULL,
            hash        INTEGER NOT NULL,
            payload     TEXT NOT NULL
        );
        CREATE UNIQUE INDEX journal_identity ON journal(observed_at, source, hash);
        CREATE INDEX journal_source ON journal(source, observed_at);
        -- The live set at `ts` (versions and relations that began before it and had not
        -- ended), packed by store/checkpoints.py: a few bytes per member.
        CREATE TABLE checkpoint (
            id        INTEGER PRIMARY KEY AUTOINCREMENT,
            ts        INTEGER NOT NULL UNIQUE,
            size      INTEGER NOT NULL,
            versions  BLOB NOT NULL,
            relations BLOB NOT NULL,
            rel_names TEXT NOT NULL
        );
        """,
    ),
    Migration(
        "0002_labels",
        # `where` finds VMs by name and NICs/ports by MAC without scanning history.
        # One row per distinct (attribute, value, entity), not one per version.
        """
        CREATE TABLE label (
            key    TEXT NOT NULL,
            value  TEXT NOT NULL,
            entity INTEGER NOT NULL,
            PRIMARY KEY (key, value, entity)
        ) WITHOUT ROWID;
        """,
    ),
    Migration(
        "0003_tokens",
        # API bearer tokens, kept as SHA-256 of the secret (store/tokens.py).
        """
        CREATE TABLE token (
            id         INTEGER PRIMARY KEY,
            name       TEXT NOT NULL,
            role       TEXT NOT NULL CHECK (role IN ('reader', 'writer')),
            hash       TEXT NOT NULL UNIQUE,
            created_at INTEGER NOT NULL,
            revoked_at INTEGER
        );
        """,
    ),
    Migration(
        "0004_attr_keys",
        # store/attrs.py: versions keep values, key sets are stored once.
        """
        CREATE TABLE attr_keys (
            id   INTEGER PRIMARY KEY,
            keys TEXT NOT NULL UNIQUE
        );
        """,
    ),
    Migration(
        "0005_journal_file",
        # First copy the journal into its own file and commit that; only then drop
        # it here, so that a crash in between leaves it in both, never in neither.
        prepare="""
        CREATE TABLE IF NOT EXISTS jnl.journal (
            seq         INTEGER PRIMARY KEY,
            source      INTEGER NOT NULL,
            kind        TEXT NOT NULL,
            observed_at INTEGER NOT NULL,
            recorded_at INTEGER NOT NULL,
            hash        INTEGER NOT NULL,
            payload     TEXT NOT NULL
        );
        DELETE FROM jnl.journal;
        INSERT INTO jnl.journal SELECT * FROM main.journal ORDER BY seq;
        CREATE UNIQUE INDEX IF NOT EXISTS jnl.journal_identity
            ON journal(observed_at, source, hash);
        CREATE INDEX IF NOT EXISTS jnl.journal_source ON journal(source, observed_at);
        """,
        sql="""
        DROP TABLE main.journal;
        -- The last journal seq the history holds, and the earliest instant of the
        -- batch that brought it: where to re-derive from if that batch's journal
        -- entries were lost by a crash between the two commits.
        CREATE TABLE applied (
            id    INTEGER PRIMARY KEY CHECK (id = 1),
            seq   INTEGER NOT NULL,
            since INTEGER NOT NULL
        );
        INSERT INTO applied
            SELECT 1, ifnull(max(seq), 0), ifnull(max(observed_at), 0) FROM jnl.journal;
        """,
    ),
    Migration(
        "0006_source_counts",
        # `stats` and every /metrics scrape read observations per source: kept as a
        # counter the recorder adds to once per batch, instead of a count over the
        # whole journal (a second at 10M observations).
        """
        ALTER TABLE source ADD COLUMN observations INTEGER NOT NULL DEFAULT 0;
        UPDATE source SET observations =
            (SELECT count(*) FROM journal WHERE journal.source = source.id);
        """,
    ),
    Migration(
        "0007_source_statements",
        # Each source's own statement about a key (store/claims.py, recording/merge.py):
        # `attrs` stays NULL while a source is the only one reporting the key, and
        # `first` is when its unbroken reporting began, the merge's rank. Rows from
        # before keep NULL: `vtrail rebuild` re-derives their history by the merge.
        """
        ALTER TABLE claim ADD COLUMN attrs TEXT;
        ALTER TABLE claim ADD COLUMN first INTEGER;
        UPDATE claim SET first = since;
        """,
    ),
    Migration(
        "0008_address_spaces",
        # ip: and net: ids carry their address space (vtrail/ids.py). An old id seen in
        # one space only is renamed in place, so its history goes on under the new id;
        # one that several spaces shared was several things in one: it keeps its old
        # id (questions split it by holder), and the new ids begin at the upgrade.
        # `rebuild` replays the journal as received, so it brings the old ids back for
        # what was recorded before the upgrade (docs/observations.md, "Address spaces").
        """
        CREATE TEMP TABLE _ip_space AS
            SELECT r.dst AS entity, CASE h.kind
                WHEN 'nic' THEN substr(h.eid, 5, instr(h.eid, '/') - 5)
                ELSE substr(h.eid, instr(h.eid, ':') + 1,
                            length(rtrim(h.eid, replace(h.eid, '/', ''))) - instr(h.eid, ':') - 1)
                END AS space
            FROM relation r JOIN entity h ON h.id = r.src
            WHERE r.rel = 'has_address' AND h.kind IN ('port', 'bridge', 'nic');
        CREATE TEMP TABLE _net_space AS
            SELECT r.dst AS entity, substr(h.eid, 8) AS space
            FROM relation r JOIN entity h ON h.id = r.src
            WHERE r.rel = 'routes' AND h.kind = 'router';
        CREATE TEMP TABLE _renamed AS
            SELECT e.id, e.eid || '@' || min(s.space) AS eid FROM entity e
            JOIN _ip_space s ON s.entity = e.id
            WHERE e.kind = 'ip' AND instr(e.eid, '@') = 0 AND instr(e.eid, '/') = 0
            GROUP BY e.id HAVING count(DISTINCT s.space) = 1 AND min(s.space) != ''
            UNION ALL
            SELECT e.id, e.eid || '@' || min(s.space) FROM entity e
            JOIN _net_space s ON s.entity = e.id
            WHERE e.kind = 'net' AND instr(e.eid, '@') = 0
            GROUP BY e.id HAVING count(DISTINCT s.space) = 1 AND min(s.space) != ''
            UNION ALL
            -- libvirt's net:<host>/<name> (never routed, not a cidr) → net:<name>@<host>.
            SELECT e.id, 'net:' || replace(replace(substr(e.eid, instr(e.eid, '/') + 1),
                   '%', '%25'), '@', '%40') || '@' || substr(e.eid, 5, instr(e.eid, '/') - 5)
            FROM entity e
            WHERE e.kind = 'net' AND instr(e.eid, '@') = 0 AND instr(e.eid, '/') > 5
              AND instr(substr(e.eid, instr(e.eid, '/') + 1), '/') = 0
              AND substr(e.eid, instr(e.eid, '/') + 1) != ''
              AND NOT EXISTS (SELECT 1 FROM _net_space s WHERE s.entity = e.id)
              AND NOT (substr(e.eid, instr(e.eid, '/') + 1) NOT GLOB '*[^0-9]*'
                       AND substr(e.eid, 5, instr(e.eid, '/') - 5) NOT GLOB '*[^0-9a-fA-F.:]*');
        UPDATE entity SET eid = (SELECT r.eid FROM _renamed r WHERE r.id = entity.id)
            WHERE id IN (SELECT id FROM _renamed)
              AND NOT EXISTS (SELECT 1 FROM entity x JOIN _renamed r ON r.eid = x.eid
                              WHERE r.id = entity.id);
        DROP TABLE _ip_space;
        DROP TABLE _net_space;
        DROP TABLE _renamed;
        """,
    ),
    Migration(
        "0009_journal_bodies",
        # All of it is in the journal's file (_journal_bodies); here it is only recorded.
        "SELECT 1;",
        prepare_fn=_journal_bodies,
    ),
    Migration(
        "0010_exact_samples",
        # Counters are exact integers up to 2^64 - 1 (store/samples.py). REAL columns
        # rounded them to 53 bits; the value columns now have no type affinity, so
        # an integer stays INTEGER and a float REAL. Blocks of integers (their data
        # starts with 0) held values below 2^53 and their increase below 2^62: each
        # is an integral REAL that CAST turns into the same integer. Blocks of
        # floats keep their REALs. Rowids are kept: sealed blocks stay in order.
        """
        CREATE TABLE sample_exact (
            entity   INTEGER NOT NULL,
            metric   TEXT NOT NULL,
            t0       INTEGER NOT NULL,
            t1       INTEGER NOT NULL,
            n        INTEGER NOT NULL,
            v_first  NOT NULL,
            v_last   NOT NULL,
            increase NOT NULL,
            dt_last  INTEGER NOT NULL,
            data     BLOB NOT NULL
        );
        INSERT INTO sample_exact (rowid, entity, metric, t0, t1, n, v_first, v_last, increase,
                                  dt_last, data)
            SELECT rowid, entity, metric, t0, t1, n,
                   iif(substr(data, 1, 1) = x'00', CAST(v_first AS INTEGER), v_first),
                   iif(substr(data, 1, 1) = x'00', CAST(v_last AS INTEGER), v_last),
                   iif(substr(data, 1, 1) = x'00', CAST(increase AS INTEGER), increase),
                   dt_last, data
            FROM sample ORDER BY rowid;
        DROP TABLE sample;
        ALTER TABLE sample_exact RENAME TO sample;
        CREATE INDEX sample_series ON sample(entity, metric, t0);
        CREATE TABLE sample_open_exact (
            entity   INTEGER NOT NULL,
            metric   TEXT NOT NULL,
            t0       INTEGER NOT NULL,
            t1       INTEGER NOT NULL,
            n        INTEGER NOT NULL,
            v_first  NOT NULL,
            v_last   NOT NULL,
            increase NOT NULL,
            dt_last  INTEGER NOT NULL,
            data     BLOB NOT NULL,
            PRIMARY KEY (entity, metric)
        ) WITHOUT ROWID;
        INSERT INTO sample_open_exact
            SELECT entity, metric, t0, t1, n,
                   iif(substr(data, 1, 1) = x'00', CAST(v_first AS INTEGER), v_first),
                   iif(substr(data, 1, 1) = x'00', CAST(v_last AS INTEGER), v_last),
                   iif(substr(data, 1, 1) = x'00', CAST(increase AS INTEGER), increase),
                   dt_last, data
            FROM sample_open;
        DROP TABLE sample_open;
        ALTER TABLE sample_open_exact RENAME TO sample_open;
        """,
    ),
    Migration(
        "0011_counts_and_mac_index",
        # `where` finds a NIC by the MAC in its id (nic:<uuid>/<mac>) through an index
        # instead of `eid LIKE`, which read the whole entity table. And the rows of the
        # history tables are counted as they come and go (`tally`, kept by triggers), so
        # that `stats` and every /metrics scrape read six numbers instead of counting
        # millions of rows. A migration that rebuilds one of these tables must create
        # its triggers again.
        """
        CREATE INDEX entity_nic_mac ON entity(lower(substr(eid, -18))) WHERE kind = 'nic';
        CREATE TABLE tally (
            name TEXT PRIMARY KEY,
            n    INTEGER NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO tally VALUES
            ('entity', (SELECT count(*) FROM entity)),
            ('version', (SELECT count(*) FROM version)),
            ('relation', (SELECT count(*) FROM relation)),
            ('sample', (SELECT count(*) FROM sample)),
            ('sample_readings', (SELECT ifnull(sum(n), 0) FROM sample));
        CREATE TRIGGER tally_entity_in AFTER INSERT ON entity BEGIN
            UPDATE tally SET n = n + 1 WHERE name = 'entity'; END;
        CREATE TRIGGER tally_entity_out AFTER DELETE ON entity BEGIN
            UPDATE tally SET n = n - 1 WHERE name = 'entity'; END;
        CREATE TRIGGER tally_version_in AFTER INSERT ON version BEGIN
            UPDATE tally SET n = n + 1 WHERE name = 'version'; END;
        CREATE TRIGGER tally_version_out AFTER DELETE ON version BEGIN
            UPDATE tally SET n = n - 1 WHERE name = 'version'; END;
        CREATE TRIGGER tally_relation_in AFTER INSERT ON relation BEGIN
            UPDATE tally SET n = n + 1 WHERE name = 'relation'; END;
        CREATE TRIGGER tally_relation_out AFTER DELETE ON relation BEGIN
            UPDATE tally SET n = n - 1 WHERE name = 'relation'; END;
        -- Sealed blocks of readings; the open ones are few and summed when asked.
        CREATE TRIGGER tally_sample_in AFTER INSERT ON sample BEGIN
            UPDATE tally SET n = n + iif(name = 'sample', 1, new.n)
                WHERE name IN ('sample', 'sample_readings'); END;
        CREATE TRIGGER tally_sample_out AFTER DELETE ON sample BEGIN
            UPDATE tally SET n = n - iif(name = 'sample', 1, old.n)
                WHERE name IN ('sample', 'sample_readings'); END;
        CREATE TRIGGER tally_sample_n AFTER UPDATE OF n ON sample BEGIN
            UPDATE tally SET n = n + new.n - old.n WHERE name = 'sample_readings'; END;
        """,
    ),
    Migration(
        "0012_history_tally_by_writer",
        # A trigger per row cost the recorder a tenth of its time on the version table,
        # which takes a row per change. The interval writer (store/history.py) counts
        # what it inserts and deletes instead and adds it to `tally` once per
        # transaction, in the same transaction. The other tables keep their triggers.
        """
        DROP TRIGGER tally_version_in;
        DROP TRIGGER tally_version_out;
        DROP TRIGGER tally_relation_in;
        DROP TRIGGER tally_relation_out;
        UPDATE tally SET n = (SELECT count(*) FROM version) WHERE name = 'version';
        UPDATE tally SET n = (SELECT count(*) FROM relation) WHERE name = 'relation';
        """,
    ),
    Migration(
        "0013_routes_on_interfaces",
        # A namespace's routes are recorded once, on the interfaces they leave by (their
        # `routes` attribute, which netlink always wrote). Netlink also wrote a copy of
        # part of that table as `routes` relations, router → net:<cidr>@<ns>: those, and
        # the `net:` prefixes only they named, go, with every trace (versions, claims,
        # labels), as if the collector had never said them. A `routes` relation another
        # source stated too is kept. Checkpoints may still list what went: readers join
        # them to the rows, so a member with no row is no member. Version and relation
        # rows are counted in `tally` by their writer (0012), so here too.
        """
        CREATE TEMP TABLE _nl AS SELECT id FROM source WHERE name LIKE 'netlink:%';
        CREATE TEMP TABLE _routed AS
            SELECT src, dst FROM relation WHERE rel = 'routes' GROUP BY src, dst
            HAVING min(source IN (SELECT id FROM _nl)) = 1;
        DELETE FROM _routed WHERE EXISTS (
            SELECT 1 FROM claim c WHERE c.a = _routed.src AND c.rel = 'routes'
               AND c.b = _routed.dst AND c.source NOT IN (SELECT id FROM _nl));
        UPDATE tally SET n = n - (SELECT count(*) FROM relation WHERE rel = 'routes'
            AND (src, dst) IN (SELECT src, dst FROM _routed)) WHERE name = 'relation';
        DELETE FROM relation WHERE rel = 'routes' AND (src, dst) IN (SELECT src, dst FROM _routed);
        DELETE FROM claim WHERE rel = 'routes' AND (a, b) IN (SELECT src, dst FROM _routed);
        CREATE TEMP TABLE _nets AS
            SELECT DISTINCT r.dst AS id FROM _routed r JOIN entity e ON e.id = r.dst
            WHERE e.kind = 'net'
              AND NOT EXISTS (SELECT 1 FROM relation x WHERE x.src = r.dst)
              AND NOT EXISTS (SELECT 1 FROM relation x WHERE x.dst = r.dst)
              AND NOT EXISTS (SELECT 1 FROM claim c WHERE c.a = r.dst AND c.rel = ''
                              AND c.source NOT IN (SELECT id FROM _nl))
              AND NOT EXISTS (SELECT 1 FROM version v WHERE v.entity = r.dst
                              AND v.source NOT IN (SELECT id FROM _nl));
        UPDATE tally SET n = n - (SELECT count(*) FROM version
            WHERE entity IN (SELECT id FROM _nets)) WHERE name = 'version';
        DELETE FROM version WHERE entity IN (SELECT id FROM _nets);
        DELETE FROM claim WHERE rel = '' AND a IN (SELECT id FROM _nets);
        DELETE FROM label WHERE entity IN (SELECT id FROM _nets);
        DELETE FROM entity WHERE id IN (SELECT id FROM _nets);
        DROP TABLE _nl;
        DROP TABLE _routed;
        DROP TABLE _nets;
        """,
    ),
    Migration(
        "0014_samples_by_source",
        # A series is an entity's metric as one source reads it: two vantages probing
        # one target, or two collectors reading one tap's counter, are series apart
        # instead of one series whose readings alternate. Readings recorded before
        # keep source 0 (not known). `gauge` marks a series of levels (a probe's loss)
        # whose increase means nothing. `sample` only gains columns; its index and the
        # small `sample_open` (one row per series) are rebuilt for the new key.
        """
        ALTER TABLE sample ADD COLUMN source INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE sample ADD COLUMN gauge INTEGER NOT NULL DEFAULT 0;
        DROP INDEX sample_series;
        CREATE INDEX sample_series ON sample(entity, metric, source, t0);
        CREATE TABLE sample_open_by_source (
            entity   INTEGER NOT NULL,
            metric   TEXT NOT NULL,
            source   INTEGER NOT NULL,
            gauge    INTEGER NOT NULL,
            t0       INTEGER NOT NULL,
            t1       INTEGER NOT NULL,
            n        INTEGER NOT NULL,
            v_first  NOT NULL,
            v_last   NOT NULL,
            increase NOT NULL,
            dt_last  INTEGER NOT NULL,
            data     BLOB NOT NULL,
            PRIMARY KEY (entity, metric, source)
        ) WITHOUT ROWID;
        INSERT INTO sample_open_by_source
            SELECT entity, metric, 0, 0, t0, t1, n, v_first, v_last, increase, dt_last, data
            FROM sample_open;
        DROP TABLE sample_open;
        ALTER TABLE sample_open_by_source RENAME TO sample_open;
        """,
    ),
]
