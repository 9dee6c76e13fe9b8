//! `repair`: rewrite a damaged (or old-format) journal keeping every intact
//! record, with the damaged bytes set aside and a backup of the original.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::format::{self, FILE_HEADER_BYTES, Frame, MAGIC};
use super::{Entry, JournalError, lock};

/// Damaged bytes found and set aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamagedRange {
    /// Where they start in the original file.
    pub offset: u64,
    /// How many bytes.
    pub length: u64,
    /// Profile ids of records there whose payload still decoded despite a
    /// bad checksum (a hint; they may be wrong).
    pub probable_recipients: Vec<String>,
}

/// What a repair did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repaired {
    /// Intact records kept.
    pub kept: usize,
    /// Damaged stretches, in file order; the recipients recorded there are
    /// unknown to the journal now, so a resumed run treats them as not yet
    /// sent.
    pub damaged: Vec<DamagedRange>,
    /// The original was in the format without checksums and was converted.
    pub converted: bool,
    /// A copy of the original file (none when nothing needed repair).
    pub backup: Option<PathBuf>,
    /// The damaged bytes, one after another (none when there were none).
    pub set_aside: Option<PathBuf>,
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Repairs the journal at `path` (which must not be in use): keeps every
/// intact record, moves damaged bytes to `<path>.damaged`, copies the
/// original to `<path>.before-repair`, and rewrites `path` in the current
/// format. A journal without damage is left alone.
pub fn repair(path: &Path) -> Result<Repaired, JournalError> {
    let io = |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io)?;
    lock(&file, path)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io)?;
    let (kept, damaged, converted) = if bytes.starts_with(MAGIC) || bytes.is_empty() {
        let (kept, damaged) = salvage(&bytes);
        (kept, damaged, false)
    } else {
        let (entries, valid) = format::decode_unchecked(&bytes);
        let damaged = (valid < bytes.len())
            .then(|| DamagedRange {
                offset: valid as u64,
                length: (bytes.len() - valid) as u64,
                probable_recipients: Vec::new(),
            })
            .into_iter()
            .collect();
        (entries, damaged, true)
    };
    let mut repaired = Repaired {
        kept: kept.len(),
        damaged,
        converted,
        backup: None,
        set_aside: None,
    };
    if repaired.damaged.is_empty() && !converted {
        return Ok(repaired);
    }
    let backup = with_suffix(path, ".before-repair");
    if backup.exists() {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!(
                "{} exists from an earlier repair: move it away first",
                backup.display()
            ),
        )));
    }
    std::fs::copy(path, &backup).map_err(io)?;
    repaired.backup = Some(backup);
    if !repaired.damaged.is_empty() {
        let set_aside = with_suffix(path, ".damaged");
        let mut out = Vec::new();
        for range in &repaired.damaged {
            out.extend_from_slice(&bytes[range.offset as usize..][..range.length as usize]);
        }
        write_synced(&set_aside, &out).map_err(io)?;
        repaired.set_aside = Some(set_aside);
    }
    let mut out = format::file_header().to_vec();
    for entry in &kept {
        out.extend(format::encode(entry).map_err(|e| io(std::io::Error::other(e)))?);
    }
    let fresh = with_suffix(path, ".repairing");
    write_synced(&fresh, &out).map_err(io)?;
    std::fs::rename(&fresh, path).map_err(io)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    drop(file);
    Ok(repaired)
}

/// Every intact record of a current-format journal, and the stretches
/// between them that are not.
fn salvage(bytes: &[u8]) -> (Vec<Entry>, Vec<DamagedRange>) {
    let mut kept = Vec::new();
    let mut damaged: Vec<DamagedRange> = Vec::new();
    let mut at = (FILE_HEADER_BYTES as usize).min(bytes.len());
    while at < bytes.len() {
        match format::decode(&bytes[at..]) {
            Frame::Record { entry, size } => {
                kept.push(entry);
                at += size;
            }
            other => {
                let probable = match other {
                    Frame::BadChecksum {
                        entry: Some(Entry::Recipient(r)),
                        ..
                    } => vec![r.profile_id],
                    _ => Vec::new(),
                };
                // Skip to the next offset where an intact record starts.
                let start = at;
                at += 1;
                while at < bytes.len()
                    && !matches!(format::decode(&bytes[at..]), Frame::Record { .. })
                {
                    at += 1;
                }
                damaged.push(DamagedRange {
                    offset: start as u64,
                    length: (at - start) as u64,
                    probable_recipients: probable,
                });
            }
        }
    }
    (kept, damaged)
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
