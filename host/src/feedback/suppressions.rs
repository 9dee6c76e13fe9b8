//! The suppression list: customers who unsubscribed, checked by the host
//! before a rule runs, on every send.
//!
//! The file form (`mailrules send --suppressions FILE`) has one entry a
//! line, a customer (profile) id or an email address; blank lines and
//! lines starting with `#` are ignored. Addresses match without regard to
//! case, ids exactly. The hosting service builds the same list from its
//! store.

use std::collections::HashSet;
use std::path::Path;

use crate::outcome::{Outcome, Status};
use crate::profile::Profile;

/// The suppression code of a recipient on the list.
pub const UNSUBSCRIBED: &str = "unsubscribed";

/// Longest entry, in bytes.
pub const MAX_ENTRY_BYTES: usize = 320;

/// Customers and addresses that get no more marketing email.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SuppressionList {
    customers: HashSet<String>,
    addresses: HashSet<String>,
}

/// A suppression file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SuppressionError {
    /// The file cannot be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line is not an entry.
    #[error("{path}:{line}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// The line number (from 1).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// A line of a suppression list that is not an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}: {message}")]
pub struct InvalidLine {
    /// The line number (from 1).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl SuppressionList {
    /// An empty list.
    pub fn new() -> Self {
        SuppressionList::default()
    }

    /// Adds a customer id.
    pub fn add_customer(&mut self, id: impl Into<String>) {
        self.customers.insert(id.into());
    }

    /// Adds an email address.
    pub fn add_address(&mut self, address: &str) {
        self.addresses.insert(address.to_lowercase());
    }

    /// Entries on the list.
    pub fn len(&self) -> usize {
        self.customers.len() + self.addresses.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads a suppression file (see the module docs).
    pub fn read(path: &Path) -> Result<Self, SuppressionError> {
        let text = std::fs::read_to_string(path).map_err(|source| SuppressionError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|invalid| SuppressionError::Invalid {
            path: path.display().to_string(),
            line: invalid.line,
            message: invalid.message,
        })
    }

    /// Parses the file form; an error names the line (from 1).
    pub fn parse(text: &str) -> Result<Self, InvalidLine> {
        let mut list = SuppressionList::new();
        for (index, line) in text.lines().enumerate() {
            let entry = line.trim();
            if entry.is_empty() || entry.starts_with('#') {
                continue;
            }
            let fail = |message: String| {
                Err(InvalidLine {
                    line: index + 1,
                    message,
                })
            };
            if entry.len() > MAX_ENTRY_BYTES {
                return fail(format!(
                    "the entry has {} bytes, more than the limit of {MAX_ENTRY_BYTES}",
                    entry.len()
                ));
            }
            if entry.chars().any(char::is_control) {
                return fail("the entry contains a control character".into());
            }
            if entry.contains('@') {
                if !crate::profile::is_email_address(entry) {
                    return fail(format!("`{entry}` has an @ but is not an email address"));
                }
                list.add_address(entry);
            } else {
                list.add_customer(entry);
            }
        }
        Ok(list)
    }

    /// Whether `profile` is on the list (by id or address).
    pub fn contains(&self, profile: &Profile) -> bool {
        self.customers.contains(&profile.id)
            || (!self.addresses.is_empty()
                && self.addresses.contains(&profile.email.to_lowercase()))
    }

    /// The outcome of a recipient on the list: suppressed, reason
    /// [`UNSUBSCRIBED`], the rule not run.
    pub fn refused(&self, profile: &Profile) -> Option<Outcome> {
        self.contains(profile).then(|| {
            Outcome::without_message(profile.id.clone(), Status::Suppressed, UNSUBSCRIBED.into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(id: &str, email: &str) -> Profile {
        serde_json::from_str(&format!(r#"{{"id":"{id}","email":"{email}"}}"#)).unwrap()
    }

    #[test]
    fn ids_match_exactly_and_addresses_without_case() {
        let list = SuppressionList::parse("# unsubscribed\nc-1\n\n  Ann@Example.COM  \n").unwrap();
        assert_eq!(list.len(), 2);
        assert!(list.contains(&profile("c-1", "x@example.com")));
        assert!(!list.contains(&profile("C-1", "x@example.com")));
        assert!(list.contains(&profile("c-9", "ann@example.com")));
        assert!(!list.contains(&profile("c-9", "bob@example.com")));
        let outcome = list.refused(&profile("c-1", "x@example.com")).unwrap();
        assert_eq!(outcome.status, Status::Suppressed);
        assert_eq!(outcome.reason.as_deref(), Some("unsubscribed"));
    }

    #[test]
    fn bad_lines_are_named() {
        assert_eq!(SuppressionList::parse("c-1\nann@\n").unwrap_err().line, 2);
        assert_eq!(
            SuppressionList::parse(&format!("ok\n\n{}\n", "x".repeat(400)))
                .unwrap_err()
                .line,
            3
        );
        assert_eq!(SuppressionList::parse("a\u{7}b").unwrap_err().line, 1);
    }
}
