"""The database schema as an ordered list of forward migrations. Append; never edit a landed one."""

from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_core",
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

        CREATE TABLE calls (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL UNIQUE,          -- relative to the spool, '/'-separated
            dir TEXT NOT NULL,                  -- the folder part of path
            started_at INTEGER NOT NULL,        -- unix seconds
            type TEXT NOT NULL,
            city_number TEXT,
            other_number TEXT,
            caller_id TEXT NOT NULL,            -- number | withheld | unavailable
            numbers TEXT NOT NULL DEFAULT '',   -- both numbers, for substring search
            uniqueid TEXT NOT NULL,
            fmt TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            duration_s REAL,
            sha256 TEXT,                        -- ingest hash, set once when complete
            state TEXT NOT NULL CHECK (state IN
                ('recording', 'complete', 'missing', 'purging', 'purged')),
            raw_retention_until TEXT NOT NULL,  -- YYYY-MM-DD, Japan time (第4条6(1))
            indexed_at INTEGER NOT NULL,
            completed_at INTEGER,
            purged_at INTEGER,
            purged_by TEXT,
            purge_instruction_id INTEGER
        );
        CREATE INDEX calls_started ON calls (started_at DESC, id DESC);
        CREATE INDEX calls_state ON calls (state, started_at);
        CREATE INDEX calls_dir ON calls (dir);
        CREATE INDEX calls_retention ON calls (raw_retention_until, state);

        CREATE VIRTUAL TABLE calls_fts USING fts5 (
            numbers, content='calls', content_rowid='id', tokenize='trigram'
        );
        CREATE TRIGGER calls_fts_ai AFTER INSERT ON calls BEGIN
            INSERT INTO calls_fts (rowid, numbers) VALUES (new.id, new.numbers);
        END;
        CREATE TRIGGER calls_fts_ad AFTER DELETE ON calls BEGIN
            INSERT INTO calls_fts (calls_fts, rowid, numbers) VALUES ('delete', old.id, old.numbers);
        END;
        CREATE TRIGGER calls_fts_au AFTER UPDATE OF numbers ON calls BEGIN
            INSERT INTO calls_fts (calls_fts, rowid, numbers) VALUES ('delete', old.id, old.numbers);
            INSERT INTO calls_fts (rowid, numbers) VALUES (new.id, new.numbers);
        END;

        CREATE TABLE skipped (
            path TEXT PRIMARY KEY,
            reason TEXT NOT NULL,
            first_seen INTEGER NOT NULL
        );

        CREATE TABLE instructions (
            id INTEGER PRIMARY KEY,
            number TEXT NOT NULL UNIQUE,        -- e.g. 2026-0001
            kind TEXT NOT NULL CHECK (kind IN ('export', 'purge')),
            state TEXT NOT NULL,
            purpose TEXT,
            medium TEXT,
            note TEXT NOT NULL DEFAULT '',
            criteria TEXT,                      -- JSON: calls described rather than picked
            issued_at INTEGER NOT NULL,
            issued_by TEXT NOT NULL,
            updated_at INTEGER NOT NULL
        );
        CREATE INDEX instructions_state ON instructions (state, issued_at);
        CREATE TABLE instruction_calls (
            instruction_id INTEGER NOT NULL REFERENCES instructions (id),
            call_id INTEGER NOT NULL REFERENCES calls (id),
            PRIMARY KEY (instruction_id, call_id)
        ) WITHOUT ROWID;
        CREATE INDEX instruction_calls_call ON instruction_calls (call_id);

        CREATE TABLE holds (
            id INTEGER PRIMARY KEY,
            call_id INTEGER NOT NULL REFERENCES calls (id),
            reason TEXT NOT NULL,
            set_at INTEGER NOT NULL,
            released_at INTEGER,
            release_reason TEXT
        );
        CREATE INDEX holds_active ON holds (call_id) WHERE released_at IS NULL;

        CREATE TABLE pins (
            role TEXT PRIMARY KEY CHECK (role IN ('manager', 'operator')),
            hash BLOB NOT NULL,
            salt BLOB NOT NULL,
            params TEXT NOT NULL,
            set_at INTEGER NOT NULL
        );
        CREATE TABLE pin_attempts (
            role TEXT PRIMARY KEY,
            failures INTEGER NOT NULL DEFAULT 0,
            locked_until INTEGER,
            lockouts INTEGER NOT NULL DEFAULT 0
        );

        CREATE TABLE audit (
            seq INTEGER PRIMARY KEY,
            ts TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            subject TEXT NOT NULL DEFAULT '',
            detail TEXT NOT NULL DEFAULT '{}',
            mac TEXT NOT NULL
        );
        CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN
            SELECT RAISE (ABORT, 'the audit log is append-only');
        END;
        CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN
            SELECT RAISE (ABORT, 'the audit log is append-only');
        END;
        """,
    ),
    (
        "0002_foundation",
        """
        -- When a complete call's file was first seen to differ from what was hashed at ingest
        -- (audited once as call.changed; the ingest sha256 is kept).
        ALTER TABLE calls ADD COLUMN changed_at INTEGER;
        -- The call list walks this newest first; it holds every column a filter reads, so a
        -- number search never reads the table for rows that do not match (services/calls.py).
        CREATE INDEX calls_browse ON calls (started_at DESC, id DESC, state, type, numbers);
        DROP INDEX calls_started;
        """,
    ),
    (
        "0003_retention",
        """
        -- One row per execution of a purge instruction. While a run is 'running', the calls it
        -- has marked are in state 'purging' with purge_instruction_id set: that is the journal
        -- a crashed run is reconciled from (services/retention/purge.py).
        CREATE TABLE purge_runs (
            id INTEGER PRIMARY KEY,
            instruction_id INTEGER NOT NULL REFERENCES instructions (id),
            state TEXT NOT NULL CHECK (state IN
                ('running', 'finished', 'cancelled', 'failed', 'interrupted')),
            actor TEXT NOT NULL,
            pid INTEGER NOT NULL,
            started_at INTEGER NOT NULL,
            ended_at INTEGER,
            grace_days INTEGER NOT NULL,
            planned INTEGER NOT NULL,
            planned_bytes INTEGER NOT NULL,
            deleted INTEGER NOT NULL DEFAULT 0,
            deleted_bytes INTEGER NOT NULL DEFAULT 0,
            skipped INTEGER NOT NULL DEFAULT 0,
            problem TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX purge_runs_state ON purge_runs (state);
        CREATE INDEX purge_runs_started ON purge_runs (started_at);

        -- The retention preview counts and sums expired calls from this index alone.
        CREATE INDEX calls_expiry ON calls (state, raw_retention_until, size, started_at);
        -- The deletion record (削除記録) reads tombstones by the time they were deleted.
        CREATE INDEX calls_purged ON calls (purged_at) WHERE purged_at IS NOT NULL;
        -- AuditLog.latest_time (max(ts)): a clock set back is caught even after a PIN entry.
        CREATE INDEX audit_ts ON audit (ts);
        -- At most one active hold per call, whatever two consoles do at once.
        CREATE UNIQUE INDEX holds_one_active ON holds (call_id) WHERE released_at IS NULL;
        """,
    ),
    (
        "0004_retention_expiry",
        """
        -- calls_expiry becomes partial: a purge then only removes a call's entry (complete ->
        -- purging) instead of moving it through the index twice. The preview reads it as before.
        DROP INDEX calls_expiry;
        CREATE INDEX calls_expiry ON calls (raw_retention_until, size, started_at)
            WHERE state = 'complete';
        """,
    ),
    (
        "0005_export",
        """
        CREATE TABLE exports (
            id INTEGER PRIMARY KEY,
            instruction_id INTEGER NOT NULL REFERENCES instructions (id),
            state TEXT NOT NULL CHECK (state IN ('running', 'finished', 'failed', 'cancelled')),
            target TEXT NOT NULL CHECK (target IN ('image', 'device', 'folder')),
            destination TEXT NOT NULL,
            medium TEXT NOT NULL,
            volumes INTEGER NOT NULL,
            calls INTEGER NOT NULL,
            bytes INTEGER NOT NULL,             -- the recordings' bytes
            started_at INTEGER NOT NULL,
            started_by TEXT NOT NULL,
            finished_at INTEGER,
            written_on TEXT,                    -- YYYY-MM-DD, Japan time: the day it was written
            audit_head TEXT,                    -- SEQ:MAC printed on the medium
            outputs TEXT NOT NULL DEFAULT '[]', -- JSON: paths removed if the export dies
            error TEXT,
            form_text BLOB,                     -- 様式第2号 as submitted (zlib of UTF-8), printable again
            form_html BLOB                      -- the same as an A4 HTML page (zlib of UTF-8)
        );
        CREATE INDEX exports_instruction ON exports (instruction_id, state);
        CREATE UNIQUE INDEX exports_one_running ON exports (instruction_id) WHERE state = 'running';

        CREATE TABLE media (
            id INTEGER PRIMARY KEY,
            export_id INTEGER NOT NULL REFERENCES exports (id),
            seq INTEGER NOT NULL,
            count INTEGER NOT NULL,
            label TEXT NOT NULL,
            location TEXT NOT NULL,             -- image file, device or folder written
            size INTEGER NOT NULL,
            files INTEGER NOT NULL,
            calls INTEGER NOT NULL,
            image_sha256 TEXT,                  -- the whole image (discs and image files)
            written_at INTEGER NOT NULL,
            UNIQUE (export_id, seq)
        );

        CREATE TABLE register (
            id INTEGER PRIMARY KEY,
            instruction_id INTEGER NOT NULL UNIQUE REFERENCES instructions (id),
            export_id INTEGER NOT NULL REFERENCES exports (id),
            purpose TEXT NOT NULL,
            medium TEXT NOT NULL,
            media_count INTEGER NOT NULL,
            written_on TEXT NOT NULL,           -- created: the day the output data was written
            received_at INTEGER NOT NULL,
            received_by TEXT NOT NULL,
            kept_through TEXT NOT NULL,         -- 翌年度末 from written_on, or as extended
            custodian TEXT NOT NULL DEFAULT '',
            disposed_on TEXT,
            disposal_method TEXT,
            disposal_witness TEXT,
            disposed_at INTEGER
        );
        CREATE INDEX register_open ON register (kept_through) WHERE disposed_on IS NULL;
        CREATE TABLE register_extensions (
            id INTEGER PRIMARY KEY,
            register_id INTEGER NOT NULL REFERENCES register (id),
            previous TEXT NOT NULL,
            until TEXT NOT NULL,
            reason TEXT NOT NULL,
            at INTEGER NOT NULL,
            by TEXT NOT NULL
        );
        CREATE INDEX register_extensions_entry ON register_extensions (register_id);
        """,
    ),
    (
        "0006_retention_journal",
        """
        -- The purge journal (services/retention/journal.py): one row per batch of calls marked for
        -- deletion, listing them (a JSON array of ids); removed when the batch is settled. A
        -- marked call is already a tombstone ('purged'), so a call's state changes once.
        CREATE TABLE purge_journal (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES purge_runs (id),
            calls TEXT NOT NULL,
            marked_at INTEGER NOT NULL
        );
        -- Nothing reads calls by (retention date, state) any more: the preview reads the partial
        -- calls_expiry, the rest by state (calls_state). Each index holding `state` is one more
        -- to rewrite for every call a purge deletes.
        DROP INDEX calls_retention;
        """,
    ),
    (
        "0007_recorder_truth",
        """
        -- Why a call's name was not believed (name_date:YYYYMMDD-HHMMSS: its date impossible, or
        -- a day or more from both its day folder and the file's own time). Few calls have one.
        ALTER TABLE calls ADD COLUMN anomaly TEXT;
        CREATE INDEX calls_anomaly ON calls (anomaly) WHERE anomaly IS NOT NULL;
        CREATE INDEX calls_unknown ON calls (id) WHERE type = 'unknown';
        -- 様式第1号 exactly as issued, kept when an upgrade re-derives the parties of calls it
        -- names (services/indexing/rederive.py): a form already issued stays as it was issued.
        CREATE TABLE issued_forms (
            instruction_id INTEGER PRIMARY KEY REFERENCES instructions (id),
            form_text TEXT NOT NULL,
            form_html TEXT NOT NULL,
            kept_at INTEGER NOT NULL
        );
        """,
    ),
    (
        "0008_store",
        """
        -- AuditLog.latest_time: the manager's latest acknowledgement of a clock correction, found
        -- without a scan; only those entries are indexed, so other appends pay nothing for it.
        CREATE INDEX audit_clock_ack ON audit (seq) WHERE action = 'clock.acknowledged';
        """,
    ),
    (
        "0009_described",
        """
        -- The description of an export instruction that describes its calls (様式第1号) rather
        -- than names them, in the index's terms: the calls it matches are kept from a purge while
        -- the instruction protects its calls (services/instructions/described.py). The criteria JSON of the
        -- instruction stays its text of record; existing ones are copied here.
        CREATE TABLE instruction_described (
            instruction_id INTEGER PRIMARY KEY REFERENCES instructions (id),
            start_at INTEGER NOT NULL,          -- unix seconds, included
            end_at INTEGER NOT NULL,            -- unix seconds, included
            city TEXT,                          -- digits as in calls.city_number; NULL: any
            other TEXT                          -- digits as in calls.other_number; NULL: any
        );
        INSERT INTO instruction_described (instruction_id, start_at, end_at, city, other)
            SELECT id, unixepoch(json_extract(criteria, '$.from')),
                   unixepoch(json_extract(criteria, '$.to')),
                   json_extract(criteria, '$.city'), json_extract(criteria, '$.other')
            FROM instructions WHERE criteria IS NOT NULL;
        -- The described instructions that protect their calls now (services/instructions/described.py
        -- PROTECTING_STATES): the few rows a purge looks at for every call it marks.
        CREATE INDEX instructions_described ON instructions (id)
            WHERE criteria IS NOT NULL AND state IN ('issued', 'in_progress', 'submitted');
        """,
    ),
    (
        "0010_file_identity",
        """
        -- Which file on disk a call is (device and inode as the indexer hashed it; NULL for calls
        -- indexed before this): a purge deletes a file only while it is that file, or provably its
        -- bytes (services/retention/unlinker.py). purge_kept says why the last purge left a call's
        -- file in place (a symbolic link on its path, another file under its name...).
        ALTER TABLE calls ADD COLUMN dev INTEGER;
        ALTER TABLE calls ADD COLUMN ino INTEGER;
        ALTER TABLE calls ADD COLUMN purge_kept TEXT;
        CREATE INDEX calls_purge_kept ON calls (id) WHERE purge_kept IS NOT NULL;
        """,
    ),
]
