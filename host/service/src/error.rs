//! The error type of the storage layer.

use std::path::PathBuf;

/// Everything that can go wrong in the [`Store`](crate::Store) and the id checks.
///
/// Causes are kept as sources so callers can walk the chain; the messages
/// also include them, as the rest of mailrules does.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused or failed a statement.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),

    /// A file or directory under the data directory could not be used.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },

    /// The named thing does not exist (for this tenant).
    #[error("{what} `{id}` not found")]
    NotFound {
        /// What was looked for, e.g. `"tenant"` or `"rule version"`.
        what: &'static str,
        /// The id that was looked for.
        id: String,
    },

    /// The named thing exists already and may not be replaced.
    #[error("{what} `{id}` already exists")]
    AlreadyExists {
        /// What was being created, e.g. `"tenant"` or `"rule version"`.
        what: &'static str,
        /// The id that is taken.
        id: String,
    },

    /// An id does not follow the rules of [`ids`](crate::ids).
    #[error("invalid {what} {id:?}: {reason}")]
    InvalidId {
        /// What kind of id it was meant to be, e.g. `"tenant id"`.
        what: &'static str,
        /// The id as given.
        id: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A value other than an id is out of range (e.g. a canary percentage).
    #[error("invalid {what}: {reason}")]
    InvalidValue {
        /// What the value is.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// The request is well-formed but the stored state does not allow it
    /// (e.g. finishing a send twice, a canary without an active version).
    #[error("{0}")]
    Conflict(String),

    /// The database was written by a newer mailrules than this one.
    #[error(
        "the database schema is version {found} but this build of mailrules only knows up to version {supported}; \
         use a newer mailrules (or restore a backup made by this version)"
    )]
    SchemaTooNew {
        /// The schema version found in the database (`PRAGMA user_version`).
        found: u32,
        /// The newest schema version this code knows.
        supported: u32,
    },

    /// Stored data is not what was written: a component file whose SHA-256
    /// no longer matches its name, a JSON column that does not parse, ...
    #[error("corrupt store: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// An [`StoreError::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }
}
