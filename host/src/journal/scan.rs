//! Reading a journal strictly: every record must be intact, except that a
//! record torn by a crash at the very end is cut.

use std::path::Path;

use super::format::{self, FILE_HEADER_BYTES, Frame, MAGIC, VERSION};
use super::{Entry, JournalError};

/// The readable part of a journal.
#[derive(Debug, Default)]
pub struct Contents {
    /// Every record, in order.
    pub entries: Vec<Entry>,
    /// Bytes from the start of the file to the end of the last intact
    /// record (zero for an empty file).
    pub valid_len: u64,
    /// Bytes after that: a record torn by a crash, cut when a run resumes.
    pub torn_bytes: u64,
}

/// Reads `bytes`, the whole journal at `path`. A torn last record (the
/// bytes end inside it, its checksum fails and it ends the file, or only
/// zeros follow the last record) is left out and counted; anything else
/// that is not an intact record is an error naming its record number and
/// byte offset.
pub fn scan(path: &Path, bytes: &[u8]) -> Result<Contents, JournalError> {
    let header = format::file_header();
    if bytes.len() < header.len() && header.starts_with(bytes) {
        // Empty, or a crash while the header was written.
        return Ok(Contents {
            torn_bytes: bytes.len() as u64,
            ..Contents::default()
        });
    }
    if !bytes.starts_with(MAGIC) {
        let (entries, _) = format::decode_unchecked(bytes);
        return Err(if matches!(entries.first(), Some(Entry::Started { .. })) {
            JournalError::OldFormat {
                path: path.to_path_buf(),
            }
        } else {
            JournalError::NotAJournal {
                path: path.to_path_buf(),
            }
        });
    }
    let Some(&[a, b, c, d]) = bytes.get(8..12) else {
        // The magic, then less than a version that is not ours.
        return Err(JournalError::NotAJournal {
            path: path.to_path_buf(),
        });
    };
    let version = u32::from_le_bytes([a, b, c, d]);
    if version != VERSION {
        return Err(JournalError::UnknownVersion {
            path: path.to_path_buf(),
            version,
        });
    }
    let mut contents = Contents::default();
    let mut at = FILE_HEADER_BYTES as usize;
    while at < bytes.len() {
        let rest = &bytes[at..];
        let damaged = |what: String| JournalError::Damaged {
            path: path.to_path_buf(),
            record: contents.entries.len() + 1,
            offset: at as u64,
            what,
        };
        match format::decode(rest) {
            Frame::Record { entry, size } => {
                contents.entries.push(entry);
                at += size;
            }
            Frame::BadChecksum { size, .. } if size == rest.len() => break,
            Frame::BadChecksum { .. } => {
                return Err(damaged("its checksum does not match".into()));
            }
            Frame::Incomplete => break,
            Frame::Garbage(_) if rest.iter().all(|&b| b == 0) => break,
            Frame::Garbage(what) => return Err(damaged(what)),
        }
    }
    contents.valid_len = at as u64;
    contents.torn_bytes = (bytes.len() - at) as u64;
    Ok(contents)
}
