//! The hosting service's durable state: one SQLite database and a directory
//! of content-addressed component files, both under the data directory.
//!
//! ```text
//! <data_dir>/mailrules.sqlite3      tenants, rule versions, campaigns, sends, events
//! <data_dir>/components/<sha>.wasm  compiled rules, named by their SHA-256
//! ```
//!
//! Every table is keyed by tenant and every method that takes a tenant only
//! reads and writes that tenant's rows. Methods that create or change rows
//! for a tenant fail with [`StoreError::NotFound`] if the tenant does not
//! exist; methods that only read return nothing for an unknown tenant.

mod campaigns;
mod components;
mod diffs;
mod events;
mod feedback;
mod flows;
pub mod migrations;
mod profiles;
mod rules;
mod sends;
mod tenants;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};

use crate::StoreError;

pub use diffs::LastDiff;
pub use events::EventRecord;
pub use feedback::Suppression;
pub use flows::{FlowRecord, FlowRun, NewFlowSend, NewRun, RunKey, RunState, RunUpdate};
pub use profiles::StoredEvents;
pub use rules::{ActivationRecord, RuleState, RuleVersionRecord};
pub use sends::{SendRecord, SendState};
pub use tenants::TenantRecord;

/// The database's file name inside the data directory.
pub const DATABASE_FILE: &str = "mailrules.sqlite3";
/// The components directory's name inside the data directory.
pub const COMPONENTS_DIR: &str = "components";
/// How long a statement waits for a lock held by another connection
/// (another process, e.g. a backup tool) before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The durable state of the hosting service. Cheap to share behind an
/// `Arc`: the connection is behind a mutex, so calls are serialised.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
    data_dir: PathBuf,
    components_dir: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store in `data_dir`: creates the
    /// directory, opens `data_dir/mailrules.sqlite3` in WAL mode with
    /// `synchronous=FULL` and foreign keys on, brings the schema up to date
    /// and creates `data_dir/components/`.
    ///
    /// A database written by a newer mailrules is refused with
    /// [`StoreError::SchemaTooNew`].
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| StoreError::io(data_dir, e))?;
        let components_dir = data_dir.join(COMPONENTS_DIR);
        std::fs::create_dir_all(&components_dir).map_err(|e| StoreError::io(&components_dir, e))?;
        components::remove_stale_temp_files(&components_dir)?;

        let mut conn = Connection::open(data_dir.join(DATABASE_FILE))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Corrupt(format!(
                "{}: SQLite would not switch to WAL mode (journal_mode is {mode:?})",
                data_dir.join(DATABASE_FILE).display()
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrations::migrate(&mut conn)?;

        Ok(Store {
            conn: Mutex::new(conn),
            data_dir: data_dir.to_owned(),
            components_dir,
        })
    }

    /// The data directory this store was opened from.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The directory holding the component files.
    pub fn components_dir(&self) -> &Path {
        &self.components_dir
    }

    /// The schema version of the open database (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        migrations::user_version(&self.conn())
    }

    /// The connection, for one call. A panic in another thread while it
    /// held the lock does not make the store unusable: SQLite rolled back
    /// whatever transaction was open when the guard was dropped.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Now, as RFC 3339 UTC with microseconds (e.g. `2026-05-01T12:00:00.000000Z`).
/// Fixed width, so the text sorts in time order.
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Fails with [`StoreError::NotFound`] unless `tenant` exists.
pub(crate) fn require_tenant(conn: &Connection, tenant: &str) -> Result<(), StoreError> {
    let found = conn
        .query_row("SELECT 1 FROM tenants WHERE id = ?1", [tenant], |_| Ok(()))
        .optional()?;
    found.ok_or_else(|| StoreError::NotFound {
        what: "tenant",
        id: tenant.to_owned(),
    })
}

/// Parses a JSON column; a value that does not parse is corruption.
pub(crate) fn parse_json(
    table: &str,
    column: &str,
    text: &str,
) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("{table}.{column} is not JSON: {e}")))
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::Store;

    /// A store in a fresh temporary directory (kept alive by the guard).
    pub(crate) fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open store");
        (dir, store)
    }

    /// A store with tenants `acme` and `globex`.
    pub(crate) fn store_with_tenants() -> (tempfile::TempDir, Store) {
        let (dir, store) = store();
        store
            .create_tenant("acme", &serde_json::json!({}))
            .expect("acme");
        store
            .create_tenant("globex", &serde_json::json!({}))
            .expect("globex");
        (dir, store)
    }

    /// Stores a tiny component and records it as `version` of `tenant`.
    pub(crate) fn add_version(store: &Store, tenant: &str, version: &str) -> String {
        let sha = store
            .put_component(format!("component {tenant} {version}").as_bytes())
            .expect("put component");
        store
            .insert_rule_version(tenant, version, &sha, &serde_json::json!({"v": version}))
            .expect("insert version");
        sha
    }
}

#[cfg(test)]
mod lifecycle_tests;
#[cfg(test)]
mod tests;
