//! Schema migrations: an ordered list of SQL scripts. Script `i` (from 0)
//! takes the schema from version `i` to `i + 1`; the version is kept in
//! `PRAGMA user_version`, and each script runs in its own transaction
//! together with the version bump, so a crash leaves a consistent schema.
//!
//! Migrations are append-only: once released, a script is never edited.

use rusqlite::Connection;

use crate::StoreError;

/// The migrations, oldest first.
pub const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    r#"
CREATE TABLE tenants (
    id          TEXT NOT NULL PRIMARY KEY,
    token_hash  BLOB NOT NULL UNIQUE,
    limits      TEXT NOT NULL,  -- JSON
    created_at  TEXT NOT NULL
) STRICT;

CREATE TABLE rule_versions (
    tenant       TEXT NOT NULL REFERENCES tenants (id),
    version      TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    facts        TEXT NOT NULL,  -- JSON
    uploaded_at  TEXT NOT NULL,
    PRIMARY KEY (tenant, version)
) STRICT;

CREATE TABLE tenant_rules (
    tenant          TEXT NOT NULL PRIMARY KEY REFERENCES tenants (id),
    active_version  TEXT,
    canary_version  TEXT,
    canary_percent  INTEGER,
    FOREIGN KEY (tenant, active_version) REFERENCES rule_versions (tenant, version),
    FOREIGN KEY (tenant, canary_version) REFERENCES rule_versions (tenant, version),
    CHECK ((canary_version IS NULL) = (canary_percent IS NULL)),
    CHECK (canary_percent IS NULL OR canary_percent BETWEEN 1 AND 99)
) STRICT;

CREATE TABLE activations (
    id       INTEGER PRIMARY KEY,
    tenant   TEXT NOT NULL REFERENCES tenants (id),
    version  TEXT NOT NULL,
    at       TEXT NOT NULL,
    FOREIGN KEY (tenant, version) REFERENCES rule_versions (tenant, version)
) STRICT;
CREATE INDEX activations_by_tenant ON activations (tenant, id);

CREATE TABLE campaigns (
    tenant      TEXT NOT NULL REFERENCES tenants (id),
    id          TEXT NOT NULL,
    toml        TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
) STRICT;

CREATE TABLE sends (
    id            TEXT NOT NULL PRIMARY KEY,
    tenant        TEXT NOT NULL REFERENCES tenants (id),
    campaign      TEXT NOT NULL,
    rule_version  TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed')),
    created_at    TEXT NOT NULL,
    finished_at   TEXT,
    summary       TEXT,  -- JSON
    error         TEXT,
    FOREIGN KEY (tenant, campaign) REFERENCES campaigns (tenant, id),
    FOREIGN KEY (tenant, rule_version) REFERENCES rule_versions (tenant, version)
) STRICT;
CREATE INDEX sends_by_tenant ON sends (tenant, created_at);
CREATE INDEX sends_running ON sends (created_at) WHERE state = 'running';

CREATE TABLE events (
    id       INTEGER PRIMARY KEY,
    tenant   TEXT NOT NULL REFERENCES tenants (id),
    version  TEXT,
    kind     TEXT NOT NULL,
    detail   TEXT NOT NULL,
    at       TEXT NOT NULL
) STRICT;
CREATE INDEX events_by_tenant ON events (tenant, id);
"#,
    // 2: lifecycle: profiles, customer events, flows and their runs,
    // deliveries for frequency caps.
    r#"
CREATE TABLE profiles (
    tenant      TEXT NOT NULL REFERENCES tenants (id),
    customer    TEXT NOT NULL,
    body        TEXT NOT NULL,  -- the profile, JSON
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant, customer)
) STRICT;

CREATE TABLE customer_events (
    seq       INTEGER PRIMARY KEY,  -- arrival order: flows read past a cursor
    tenant    TEXT NOT NULL REFERENCES tenants (id),
    id        TEXT NOT NULL,
    customer  TEXT NOT NULL,
    type      TEXT NOT NULL,
    at        INTEGER NOT NULL,
    body      TEXT NOT NULL,  -- the event line, JSON
    UNIQUE (tenant, id)
) STRICT;
CREATE INDEX customer_events_by_customer ON customer_events (tenant, customer, at);

CREATE TABLE order_summaries (
    tenant    TEXT NOT NULL REFERENCES tenants (id),
    customer  TEXT NOT NULL,
    body      TEXT NOT NULL,  -- orders folded by compaction, JSON
    PRIMARY KEY (tenant, customer)
) STRICT;

CREATE TABLE compaction (
    tenant   TEXT NOT NULL PRIMARY KEY REFERENCES tenants (id),
    horizon  INTEGER NOT NULL  -- events before this were folded; older ones are refused
) STRICT;

CREATE TABLE flows (
    tenant      TEXT NOT NULL REFERENCES tenants (id),
    name        TEXT NOT NULL,
    toml        TEXT NOT NULL,
    cursor      INTEGER NOT NULL,  -- customer_events.seq already read
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant, name)
) STRICT;

CREATE TABLE flow_runs (
    tenant      TEXT NOT NULL REFERENCES tenants (id),
    flow        TEXT NOT NULL,
    customer    TEXT NOT NULL,
    trigger     TEXT NOT NULL,  -- the event id, or the segment entry
    trigger_at  INTEGER NOT NULL,
    due_at      INTEGER NOT NULL,
    state       TEXT NOT NULL CHECK (state IN
                ('waiting', 'queued', 'sent', 'cancelled', 'suppressed', 'expired', 'failed')),
    send_id     TEXT REFERENCES sends (id),
    reason      TEXT,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant, flow, customer, trigger)
) STRICT;
CREATE INDEX flow_runs_due ON flow_runs (tenant, state, due_at);
CREATE INDEX flow_runs_by_send ON flow_runs (send_id) WHERE send_id IS NOT NULL;

CREATE TABLE segment_members (
    tenant    TEXT NOT NULL REFERENCES tenants (id),
    flow      TEXT NOT NULL,
    customer  TEXT NOT NULL,
    since     INTEGER NOT NULL,
    PRIMARY KEY (tenant, flow, customer)
) STRICT;

CREATE TABLE deliveries (
    tenant    TEXT NOT NULL REFERENCES tenants (id),
    customer  TEXT NOT NULL,
    at        INTEGER NOT NULL,
    send_id   TEXT NOT NULL REFERENCES sends (id),
    PRIMARY KEY (tenant, customer, send_id)
) STRICT;
CREATE INDEX deliveries_by_customer ON deliveries (tenant, customer, at);

ALTER TABLE sends ADD COLUMN flow TEXT;
ALTER TABLE sends ADD COLUMN now INTEGER;
"#,
    // 3: event sequence numbers are never reused. Without AUTOINCREMENT,
    // SQLite gives a new row the largest remaining seq plus one, so after
    // compaction deleted the newest rows a new event could get a number at
    // or before a flow's cursor and never trigger it.
    r#"
CREATE TABLE customer_events_seq (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant    TEXT NOT NULL REFERENCES tenants (id),
    id        TEXT NOT NULL,
    customer  TEXT NOT NULL,
    type      TEXT NOT NULL,
    at        INTEGER NOT NULL,
    body      TEXT NOT NULL,
    UNIQUE (tenant, id)
) STRICT;
INSERT INTO customer_events_seq (seq, tenant, id, customer, type, at, body)
    SELECT seq, tenant, id, customer, type, at, body FROM customer_events;
-- Numbers flows may already have read past stay used.
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'customer_events_seq', max(coalesce((SELECT max(seq) FROM customer_events), 0),
                                      coalesce((SELECT max(cursor) FROM flows), 0))
    WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'customer_events_seq');
UPDATE sqlite_sequence
    SET seq = max(seq, coalesce((SELECT max(cursor) FROM flows), 0))
    WHERE name = 'customer_events_seq';
DROP TABLE customer_events;
ALTER TABLE customer_events_seq RENAME TO customer_events;
CREATE INDEX customer_events_by_customer ON customer_events (tenant, customer, at);
"#,
    // 4: feedback. Each tenant's key for signing links (made from the
    // operating system's randomness when first needed), and the customers
    // who unsubscribed.
    r#"
CREATE TABLE feedback_keys (
    tenant  TEXT NOT NULL PRIMARY KEY REFERENCES tenants (id),
    key     BLOB NOT NULL CHECK (length(key) = 32)
) STRICT;

-- The latest unsubscribe and the latest resubscription of each customer,
-- so events applied in any order, or twice, give the same answer: the
-- customer is suppressed while the unsubscribe is the later (a tie
-- suppresses).
CREATE TABLE suppressions (
    tenant           TEXT NOT NULL REFERENCES tenants (id),
    customer         TEXT NOT NULL,
    unsubscribed_at  INTEGER,
    resubscribed_at  INTEGER,
    campaign         TEXT,  -- of the latest unsubscribe
    message_id       TEXT,
    PRIMARY KEY (tenant, customer)
) STRICT;

CREATE TABLE last_diffs (
    tenant     TEXT NOT NULL PRIMARY KEY REFERENCES tenants (id),
    campaign   TEXT NOT NULL,
    active     TEXT NOT NULL,
    candidate  TEXT NOT NULL,
    at         TEXT NOT NULL,
    report     TEXT NOT NULL  -- JSON
) STRICT;
"#,
];

/// The schema version this code creates and understands.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// The database's `PRAGMA user_version`.
pub(crate) fn user_version(conn: &Connection) -> Result<u32, StoreError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    u32::try_from(version)
        .map_err(|_| StoreError::Corrupt(format!("the database's user_version is {version}")))
}

/// Applies the migrations the database has not seen yet and returns the
/// resulting schema version. Refuses a database newer than the code.
pub(crate) fn migrate(conn: &mut Connection) -> Result<u32, StoreError> {
    let found = user_version(conn)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (index, script) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let next = index as u32 + 1;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Another process may have migrated between our read and the lock.
        if user_version(&tx)? >= next {
            continue;
        }
        tx.execute_batch(script)?;
        tx.pragma_update(None, "user_version", next)?;
        tx.commit()?;
    }
    user_version(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    #[test]
    fn schema_version_is_pinned() {
        assert_eq!(SCHEMA_VERSION, 4);
    }

    #[test]
    fn opening_twice_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.schema_version().unwrap(), 4);
        store.create_tenant("acme", &serde_json::json!({})).unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.schema_version().unwrap(), 4);
        assert!(store.tenant("acme").unwrap().is_some());
    }

    #[test]
    fn newer_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        {
            let conn = Connection::open(dir.path().join(crate::store::DATABASE_FILE)).unwrap();
            conn.pragma_update(None, "user_version", 7).unwrap();
        }
        let err = Store::open(dir.path()).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::SchemaTooNew {
                    found: 7,
                    supported: 4
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().starts_with(
            "the database schema is version 7 but this build of mailrules only knows up to version 4"
        ));
    }

    #[test]
    fn events_numbered_after_migration_3_come_after_every_flow_cursor() {
        let mut conn = Connection::open_in_memory().unwrap();
        for script in &MIGRATIONS[..2] {
            conn.execute_batch(script).unwrap();
        }
        conn.pragma_update(None, "user_version", 2).unwrap();
        conn.execute_batch(
            "INSERT INTO tenants (id, token_hash, limits, created_at) VALUES ('acme', x'00', '{}', '');
             INSERT INTO customer_events (seq, tenant, id, customer, type, at, body)
                 VALUES (1, 'acme', 'e1', 'c', 'site_visit', 0, '{}'),
                        (2, 'acme', 'e2', 'c', 'site_visit', 0, '{}');
             INSERT INTO flows (tenant, name, toml, cursor, updated_at)
                 VALUES ('acme', 'welcome', '', 4, '');",
        )
        .unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), 4);
        conn.execute(
            "INSERT INTO customer_events (tenant, id, customer, type, at, body)
             VALUES ('acme', 'e5', 'c', 'site_visit', 0, '{}')",
            [],
        )
        .unwrap();
        let seqs: Vec<i64> = conn
            .prepare("SELECT seq FROM customer_events ORDER BY seq")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(seqs, [1, 2, 5]);
    }

    #[test]
    fn migrations_apply_in_one_transaction_each() {
        // A fresh in-memory database goes from 0 to the current version.
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(user_version(&conn).unwrap(), 0);
        assert_eq!(migrate(&mut conn).unwrap(), SCHEMA_VERSION);
        assert_eq!(migrate(&mut conn).unwrap(), SCHEMA_VERSION);
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            tables,
            [
                "activations",
                "campaigns",
                "compaction",
                "customer_events",
                "deliveries",
                "events",
                "feedback_keys",
                "flow_runs",
                "flows",
                "last_diffs",
                "order_summaries",
                "profiles",
                "rule_versions",
                "segment_members",
                "sends",
                "sqlite_sequence",
                "suppressions",
                "tenant_rules",
                "tenants"
            ]
        );
    }
}
