"""Migrations 0001 to 0009: the founding schema, labels, tokens, attribute keys, the
journal in its own file, per-source counts and statements, address spaces, journal
bodies."""

from __future__ import annotations

from vtrail.store.conn import Conn
from vtrail.store.migrations.migration import Migration


def _journal_bodies(c: Conn) -> None:
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


FOUNDING: list[Migration] = [
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
]
