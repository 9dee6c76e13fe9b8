//! Appending to a journal: open (lock, read, check, cut a torn tail), then
//! records, synced in batches.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Entry, History, JournalError, SYNC_EVERY, format, lock, scan};

/// Appends records to a journal, holding its lock.
pub struct JournalWriter {
    path: PathBuf,
    file: BufWriter<File>,
    unsynced: usize,
    sync_delay: Duration,
}

/// What differs between the journal's header `found` and this run's
/// `expected`, one phrase each.
fn differences(found: &Entry, expected: &Entry) -> Vec<String> {
    let (
        Entry::Started {
            rule_sha256: found_rule,
            now: found_now,
            campaign_sha256: found_campaign,
            ..
        },
        Entry::Started {
            rule_sha256: rule,
            now,
            campaign_sha256: campaign,
            ..
        },
    ) = (found, expected)
    else {
        return Vec::new();
    };
    let mut differences = Vec::new();
    if found_rule != rule {
        differences.push(format!(
            "rule (SHA-256 {found_rule} in the journal, {rule} now)"
        ));
    }
    if let (Some(found_campaign), Some(campaign)) = (found_campaign, campaign)
        && found_campaign != campaign
    {
        differences.push(format!(
            "campaign file (SHA-256 {found_campaign} in the journal, {campaign} now)"
        ));
    }
    if found_now != now {
        differences.push(format!("`now` ({found_now} in the journal, {now} now)"));
    }
    differences
}

impl JournalWriter {
    /// Opens (or creates) the journal for the campaign in `header` and
    /// locks it: reads what is there, cuts a torn last record, checks that
    /// the campaign, rule, campaign file and `now` are the ones the journal
    /// started with, and writes the header to a new journal.
    pub fn open(path: &Path, header: Entry) -> Result<(Self, History), JournalError> {
        Self::open_with(path, header, false)
    }

    /// [`JournalWriter::open`]; with `allow_changed`, a journal started with
    /// another rule, campaign file or `now` (but the same campaign id) is
    /// resumed anyway, with a new header recording this run's values and
    /// the differences in [`History::changed`].
    pub fn open_with(
        path: &Path,
        header: Entry,
        allow_changed: bool,
    ) -> Result<(Self, History), JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(io)?;
        lock(&file, path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let contents = scan::scan(path, &bytes)?;
        let mut history = History {
            truncated_bytes: contents.torn_bytes,
            ..History::default()
        };
        for entry in contents.entries {
            match entry {
                Entry::Started { .. } => history.started = Some(entry),
                Entry::Recipient(recipient) => {
                    history
                        .recipients
                        .insert(recipient.profile_id, recipient.fate);
                }
            }
        }
        if let Some(found) = &history.started {
            if let (
                Entry::Started {
                    campaign_id: found, ..
                },
                Entry::Started {
                    campaign_id: expected,
                    ..
                },
            ) = (found, &header)
                && found != expected
            {
                return Err(JournalError::OtherCampaign {
                    path: path.to_path_buf(),
                    expected: expected.clone(),
                    found: found.clone(),
                });
            }
            history.changed = differences(found, &header);
            if !history.changed.is_empty() && !allow_changed {
                return Err(JournalError::Changed {
                    path: path.to_path_buf(),
                    differences: history.changed,
                });
            }
        }
        file.set_len(contents.valid_len).map_err(io)?;
        file.seek(SeekFrom::End(0)).map_err(io)?;
        let mut writer = JournalWriter {
            path: path.to_path_buf(),
            file: BufWriter::new(file),
            unsynced: 0,
            sync_delay: Duration::ZERO,
        };
        if contents.valid_len == 0 {
            writer.file.write_all(&format::file_header()).map_err(io)?;
        }
        if history.started.is_none() || !history.changed.is_empty() {
            writer.append(&header)?;
            writer.sync()?;
        }
        if contents.valid_len == 0 {
            // A new journal: its directory entry must be durable too, or a
            // power loss could lose the file and everything it records.
            let directory = match path.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent,
                _ => Path::new("."),
            };
            File::open(directory)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
        }
        Ok((writer, history))
    }

    /// Makes every sync take at least `delay` longer, as on a slow disk.
    /// For tests of the crash window; a real run never sets it.
    pub fn with_sync_delay(mut self, delay: Duration) -> Self {
        self.sync_delay = delay;
        self
    }

    /// Appends one record; syncs every [`SYNC_EVERY`] records.
    pub fn append(&mut self, entry: &Entry) -> Result<(), JournalError> {
        let io = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        let bytes = format::encode(entry).map_err(|e| io(std::io::Error::other(e)))?;
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
