"""Migrations from 0010 on: exact samples, counted rows and the MAC index, rows counted
by their writer, routes on interfaces, samples by source."""

from __future__ import annotations

from vtrail.store.migrations.migration import Migration

SINCE_EXACT_SAMPLES: list[Migration] = [
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
    Migration(
        "0015_gauge_summaries",
        # A block of gauge readings keeps its least, greatest and summed reading in its
        # row, so that a question over a day of probe rounds judges the blocks that are
        # all good without decoding them (triage/health.py). Blocks written before stay
        # NULL and are decoded as before.
        """
        ALTER TABLE sample ADD COLUMN v_min;
        ALTER TABLE sample ADD COLUMN v_max;
        ALTER TABLE sample ADD COLUMN v_sum;
        ALTER TABLE sample_open ADD COLUMN v_min;
        ALTER TABLE sample_open ADD COLUMN v_max;
        ALTER TABLE sample_open ADD COLUMN v_sum;
        """,
    ),
    Migration(
        "0016_push_streams",
        # Collectors that push (`vtrail record --push`) number their batches; the server
        # keeps, per collector's stream, the highest number it has committed, in the
        # batch's own transaction, so that a batch re-sent after a lost reply is known
        # and not recorded twice (store/pushed.py). One row per collector, not per batch.
        """
        CREATE TABLE push_stream (
            stream       TEXT PRIMARY KEY,
            last_seq     INTEGER NOT NULL,
            batches      INTEGER NOT NULL,
            observations INTEGER NOT NULL,
            at           INTEGER NOT NULL
        ) WITHOUT ROWID;
        """,
    ),
    Migration(
        "0018_counter_block_marks",
        # A block of integer readings keeps, every 16 readings, where its readings stand
        # (store/marks.py), so that accounting over a window that starts or ends inside a
        # block decodes a few readings of it instead of all. Blocks written before stay
        # NULL and are decoded whole, as before.
        """
        ALTER TABLE sample ADD COLUMN marks;
        ALTER TABLE sample_open ADD COLUMN marks;
        """,
    ),
    Migration(
        "0019_pg_writers_at_once",
        # On a server several recorders write at once, and the rows every writer updated
        # (a count, how far the history holds the journal) made each wait for the
        # others (store/migrations/postgres.py). SQLite has one writer: nothing changes.
        "SELECT 1",
    ),
]
