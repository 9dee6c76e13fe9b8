//! The campaign journal: an append-only file recording every recipient's
//! fate, so an interrupted `send` resumes without losing or repeating
//! anyone.
//!
//! Format: a sequence of records, each a 4-byte little-endian length and a
//! MessagePack map ([`Entry`]). The first record is a [`Entry::Started`]
//! header naming the campaign. A crash can leave at most one torn record at
//! the end; opening the journal truncates it.
//!
//! Durability: records are written in order and `fsync`ed at least every
//! [`SYNC_EVERY`] records and whenever the writer is flushed (end of run).
//! The guarantee: a recipient whose `delivered` record was synced is never
//! sent again. A crash can lose the records written since the last sync,
//! plus the messages the delivery threads had handed to the relay but not yet
//! recorded: that window is at most `SYNC_EVERY + connections` recipients,
//! and those are sent again on resume with the same Message-ID, so any
//! duplicate is detectable downstream.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
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
}

/// What an existing journal says.
#[derive(Debug, Default)]
pub struct History {
    /// The header, if the journal had one.
    pub started: Option<Entry>,
    /// The latest entry per profile id.
    pub recipients: HashMap<String, RecipientEntry>,
    /// Bytes of a torn last record that were cut off.
    pub truncated_bytes: u64,
}

impl History {
    /// Whether a resumed run should leave `profile_id` alone.
    pub fn is_done(&self, profile_id: &str) -> bool {
        self.recipients
            .get(profile_id)
            .is_some_and(|e| e.fate.is_final())
    }
}

/// Reads every complete record of `path`; returns them and the length of
/// the valid prefix.
pub fn read(path: &Path) -> Result<(Vec<Entry>, u64, u64), JournalError> {
    let io = |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(io)?;
    let mut entries = Vec::new();
    let mut at = 0usize;
    while at + 4 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let Some(record) = bytes.get(at + 4..at + 4 + len) else {
            break;
        };
        let Ok(entry) = rmp_serde::from_slice::<Entry>(record) else {
            break;
        };
        entries.push(entry);
        at += 4 + len;
    }
    Ok((entries, at as u64, (bytes.len() - at) as u64))
}

/// Appends records to a journal.
pub struct JournalWriter {
    path: PathBuf,
    file: BufWriter<File>,
    unsynced: usize,
    sync_delay: std::time::Duration,
}

impl JournalWriter {
    /// Opens (or creates) the journal for `campaign_id`: reads what is
    /// there, cuts a torn last record, checks the campaign, and writes the
    /// header to a new journal.
    pub fn open(path: &Path, header: Entry) -> Result<(Self, History), JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut history = History::default();
        let mut valid_len = 0;
        if path.exists() {
            let (entries, valid, torn) = read(path)?;
            valid_len = valid;
            history.truncated_bytes = torn;
            for entry in entries {
                match entry {
                    Entry::Started { .. } => history.started = Some(entry),
                    Entry::Recipient(recipient) => {
                        history
                            .recipients
                            .insert(recipient.profile_id.clone(), recipient);
                    }
                }
            }
        }
        if let (
            Some(Entry::Started {
                campaign_id: found, ..
            }),
            Entry::Started {
                campaign_id: expected,
                ..
            },
        ) = (&history.started, &header)
            && found != expected
        {
            return Err(JournalError::OtherCampaign {
                path: path.to_path_buf(),
                expected: expected.clone(),
                found: found.clone(),
            });
        }
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(io)?;
        file.set_len(valid_len).map_err(io)?;
        file.seek(SeekFrom::End(0)).map_err(io)?;
        let mut writer = JournalWriter {
            path: path.to_path_buf(),
            file: BufWriter::new(file),
            unsynced: 0,
            sync_delay: std::time::Duration::ZERO,
        };
        if history.started.is_none() {
            writer.append(&header)?;
            writer.sync()?;
        }
        Ok((writer, history))
    }

    /// Makes every sync take at least `delay` longer, as on a slow disk.
    /// For tests of the crash window; a real run never sets it.
    pub fn with_sync_delay(mut self, delay: std::time::Duration) -> Self {
        self.sync_delay = delay;
        self
    }

    /// Appends one record; syncs every [`SYNC_EVERY`] records.
    pub fn append(&mut self, entry: &Entry) -> Result<(), JournalError> {
        let io = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        let bytes = rmp_serde::to_vec_named(entry).map_err(|e| io(std::io::Error::other(e)))?;
        self.file
            .write_all(&(bytes.len() as u32).to_le_bytes())
            .map_err(io)?;
        self.file.write_all(&bytes).map_err(io)?;
        self.unsynced += 1;
        if self.unsynced >= SYNC_EVERY {
            self.sync()?;
        }
        Ok(())
    }

    /// Records appended since the last sync.
    pub fn unsynced(&self) -> usize {
        self.unsynced
    }

    /// Writes buffered records and syncs the file.
    pub fn sync(&mut self) -> Result<(), JournalError> {
        let io = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.flush().map_err(io)?;
        self.file.get_ref().sync_data().map_err(io)?;
        if !self.sync_delay.is_zero() {
            std::thread::sleep(self.sync_delay);
        }
        self.unsynced = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipient(id: &str, fate: Fate) -> Entry {
        Entry::Recipient(RecipientEntry {
            profile_id: id.into(),
            fate,
            status: "ok".into(),
            segments: vec!["vip".into()],
            subject: Some("s".into()),
            preheader: Some("p".into()),
            blocks: vec![("hero".into(), "h".into())],
            message_id: Some(format!("<{id}@x>")),
            reply: Some("250 ok".into()),
            reason: None,
        })
    }

    fn header(campaign: &str) -> Entry {
        Entry::Started {
            campaign_id: campaign.into(),
            rule_sha256: "00".into(),
            now: 0,
        }
    }

    #[test]
    fn a_reopened_journal_knows_who_is_done_and_cuts_a_torn_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        {
            let (mut writer, history) = JournalWriter::open(&path, header("c")).unwrap();
            assert!(history.recipients.is_empty());
            writer.append(&recipient("a", Fate::Delivered)).unwrap();
            writer.append(&recipient("b", Fate::Deferred)).unwrap();
            writer.sync().unwrap();
        }
        // A crash in the middle of a record.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&[200, 0, 0, 0, 1, 2, 3]).unwrap();
        drop(file);
        let (mut writer, history) = JournalWriter::open(&path, header("c")).unwrap();
        assert_eq!(history.truncated_bytes, 7);
        assert!(history.is_done("a"));
        assert!(!history.is_done("b"), "deferred recipients are tried again");
        assert!(!history.is_done("c"));
        writer.append(&recipient("b", Fate::Delivered)).unwrap();
        writer.sync().unwrap();
        let (entries, _, torn) = read(&path).unwrap();
        assert_eq!(torn, 0);
        assert_eq!(entries.len(), 4);
    }

    #[test]
    fn a_journal_of_another_campaign_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        drop(JournalWriter::open(&path, header("c")).unwrap());
        assert!(matches!(
            JournalWriter::open(&path, header("d")),
            Err(JournalError::OtherCampaign { .. })
        ));
    }
}
