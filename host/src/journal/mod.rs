//! The campaign journal: an append-only file recording every recipient's
//! fate, so an interrupted `send` resumes without losing or repeating
//! anyone.
//!
//! Format ([`mod@format`]): a file header with the format version, then
//! records, each framed with its length and a CRC-32 of its MessagePack
//! payload ([`Entry`]). The first record is a [`Entry::Started`] header
//! naming the campaign, the rule, the campaign file and `now`. A crash can
//! leave at most one torn record at the end; opening the journal cuts it.
//! Damage anywhere else is an error naming the record and byte offset
//! ([`JournalError::Damaged`]); [`repair()`] keeps every intact record and
//! sets the rest aside.
//!
//! A writer holds an exclusive lock on the file for as long as it lives, so
//! two runs cannot append to one journal.
//!
//! Durability: records are written in order and `fsync`ed at least every
//! [`SYNC_EVERY`] records and whenever the writer is flushed (end of run).
//! The guarantee: a recipient whose `delivered` record was synced is never
//! sent again. A crash can lose the records written since the last sync,
//! plus the messages the delivery threads had handed to the relay but not yet
//! recorded: `send` hands a message to the relay only while fewer than
//! `SYNC_EVERY + connections` recipients are without a synced record, so
//! that is the window, and those are sent again on resume with the same
//! Message-ID, so any duplicate is detectable downstream.

pub mod format;
mod repair;
pub mod report;
mod scan;
mod writer;

pub use repair::{DamagedRange, Repaired, repair};
pub use writer::JournalWriter;

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Records written between two `fsync`s at most.
pub const SYNC_EVERY: usize = 64;

/// What happened to a recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fate {
    /// Accepted by the relay (or stored).
    Delivered,
    /// Temporarily refused after every retry; sent again on resume.
    Deferred,
    /// Permanently refused, or the message could not be rendered.
    Failed,
    /// No consent, or suppressed by the rule.
    Suppressed,
    /// The rule failed and the campaign skips such recipients.
    Skipped,
    /// The input record could not be read.
    Error,
}

impl Fate {
    /// Whether a resumed run leaves this recipient alone.
    pub fn is_final(&self) -> bool {
        !matches!(self, Fate::Deferred)
    }

    /// The fate as printed.
    pub fn as_str(&self) -> &'static str {
        match self {
            Fate::Delivered => "delivered",
            Fate::Deferred => "deferred",
            Fate::Failed => "failed",
            Fate::Suppressed => "suppressed",
            Fate::Skipped => "skipped",
            Fate::Error => "error",
        }
    }
}

/// One journal record.
// Nearly every record is a recipient's; boxing it would cost an allocation
// per record to save room in the rare header.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Entry {
    /// The header of a journal.
    Started {
        /// The campaign id.
        campaign_id: String,
        /// SHA-256 of the rule component.
        rule_sha256: String,
        /// The campaign time.
        now: i64,
        /// SHA-256 of the campaign file (absent in journals converted from
        /// the format without checksums).
        #[serde(default)]
        campaign_sha256: Option<String>,
    },
    /// One recipient's fate.
    Recipient(RecipientEntry),
}

/// A recipient's fate with the decision behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientEntry {
    /// The profile id.
    pub profile_id: String,
    /// What happened.
    pub fate: Fate,
    /// The evaluation status (`ok`, `fallback`, …).
    pub status: String,
    /// Segments.
    pub segments: Vec<String>,
    /// Subject variant.
    pub subject: Option<String>,
    /// Preheader variant.
    pub preheader: Option<String>,
    /// Blocks per slot.
    pub blocks: Vec<(String, String)>,
    /// The Message-ID, when a message was rendered.
    pub message_id: Option<String>,
    /// The relay's reply or the error.
    pub reply: Option<String>,
    /// Why the status is not ok, if so.
    pub reason: Option<String>,
    /// Where an unreadable input record is (fate `error`, which has no
    /// profile id).
    #[serde(default)]
    pub input: Option<String>,
    /// When the message was due (seconds since the Unix epoch): the run's
    /// `now` for a message handed to delivery, the later time a postponed
    /// one waits for. Absent when nothing was scheduled (and in journals
    /// written before schedules existed).
    #[serde(default)]
    pub scheduled_at: Option<i64>,
    /// Why then: `due` for a message sent at once, else every reason it
    /// waits or was held back (`send-at tuesday 10:00 America/New_York;
    /// quiet hours 21:00-08:00`, `frequency-cap: 3 per 7d`).
    #[serde(default)]
    pub schedule: Option<String>,
    /// The A/B split (its subject variant) that chose `subject`, when one
    /// did. Absent in journals written before splits were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ab_split: Option<String>,
    /// Whether the message carried the open pixel and click redirects (the
    /// service's links, for a recipient with tracking consent). Absent
    /// when no message was rendered, and in journals written before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracked: Option<bool>,
}

/// The journal cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// I/O failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The journal file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The journal belongs to another campaign.
    #[error("{}: this journal is for campaign `{found}`, not `{expected}`", path.display())]
    OtherCampaign {
        /// The journal file.
        path: PathBuf,
        /// The campaign being sent.
        expected: String,
        /// The campaign in the journal.
        found: String,
    },
    /// Another process holds the journal's lock: a run is in progress.
    #[error(
        "{}: the journal is in use by another `mailrules send` (or repair); wait for it to finish",
        path.display()
    )]
    InUse {
        /// The journal file.
        path: PathBuf,
    },
    /// A record before the last one is damaged.
    #[error(
        "{}: record {record} at byte {offset} is damaged ({what}); nothing was sent. `mailrules journal repair {}` keeps every intact record and sets the damaged bytes aside",
        path.display(), path.display()
    )]
    Damaged {
        /// The journal file.
        path: PathBuf,
        /// The damaged record's number, the header being record 1.
        record: usize,
        /// Where it starts in the file.
        offset: u64,
        /// What is wrong.
        what: String,
    },
    /// The journal was written in the format without checksums.
    #[error(
        "{}: this journal is in the older format without checksums; `mailrules journal repair {}` converts it",
        path.display(), path.display()
    )]
    OldFormat {
        /// The journal file.
        path: PathBuf,
    },
    /// The file is no journal.
    #[error("{}: not a mailrules journal", path.display())]
    NotAJournal {
        /// The file.
        path: PathBuf,
    },
    /// The journal's format version is not one this build reads.
    #[error("{}: journal format version {version} is not supported (this build reads version {})", path.display(), format::VERSION)]
    UnknownVersion {
        /// The journal file.
        path: PathBuf,
        /// The version found.
        version: u32,
    },
    /// The journal was started with another rule, campaign file or `now`.
    #[error(
        "{}: this journal was started with a different {}; resuming would mix decisions. Pass --allow-changed to resume anyway",
        path.display(), differences.join("; ")
    )]
    Changed {
        /// The journal file.
        path: PathBuf,
        /// What differs, one phrase each.
        differences: Vec<String>,
    },
}

/// What an existing journal says.
#[derive(Debug, Default)]
pub struct History {
    /// The header, if the journal had one.
    pub started: Option<Entry>,
    /// The latest fate per profile id (only the fate: what a rule put in a
    /// decision does not stay in memory for the whole run).
    pub recipients: HashMap<String, Fate>,
    /// Bytes of a torn last record that were cut off.
    pub truncated_bytes: u64,
    /// What differs from the header the journal started with, when the run
    /// was allowed to resume anyway (a new header records the new values).
    pub changed: Vec<String>,
}

impl History {
    /// Whether a resumed run should leave `profile_id` alone.
    pub fn is_done(&self, profile_id: &str) -> bool {
        self.recipients.get(profile_id).is_some_and(Fate::is_final)
    }
}

/// Reads every intact record of `path`; returns them, the length of the
/// valid prefix and the bytes of a torn last record after it. Damage before
/// the last record is an error.
pub fn read(path: &Path) -> Result<(Vec<Entry>, u64, u64), JournalError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    let contents = scan::scan(path, &bytes)?;
    Ok((contents.entries, contents.valid_len, contents.torn_bytes))
}

/// Every recipient `path` records as delivered, with the `now` of the
/// header the record follows (when the campaign's messages went): the
/// sends that count against frequency caps.
pub fn delivered(path: &Path) -> Result<Vec<(String, i64)>, JournalError> {
    let (entries, _, _) = read(path)?;
    let mut now = None;
    let mut sends = Vec::new();
    for entry in entries {
        match entry {
            Entry::Started { now: started, .. } => now = Some(started),
            Entry::Recipient(recipient) => {
                if let (Fate::Delivered, Some(now)) = (recipient.fate, now) {
                    sends.push((recipient.profile_id, now));
                }
            }
        }
    }
    Ok(sends)
}

/// Takes the exclusive lock on an open journal, or says who has it.
fn lock(file: &File, path: &Path) -> Result<(), JournalError> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(JournalError::InUse {
            path: path.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(JournalError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests;
