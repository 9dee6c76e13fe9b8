//! The journal's bytes: a file header naming the format version, then
//! records, each framed with its length (twice, the second copy inverted)
//! and a CRC-32 of its payload, so a torn last record can be told from
//! damage anywhere else.
//!
//! ```text
//! file    = "MRJOURNL" version:u32le record*
//! record  = length:u32le !length:u32le crc32(payload):u32le payload
//! payload = one MessagePack map (an `Entry`)
//! ```

use super::Entry;

/// The first bytes of every journal.
pub const MAGIC: &[u8; 8] = b"MRJOURNL";

/// The format version written after [`MAGIC`].
pub const VERSION: u32 = 2;

/// Bytes of the file header: [`MAGIC`] and the version.
pub const FILE_HEADER_BYTES: u64 = 12;

/// Bytes of a record's frame before its payload.
pub const RECORD_HEADER_BYTES: usize = 12;

/// The largest payload a record may have; a length above it is damage.
pub const MAX_RECORD_BYTES: usize = 16 << 20;

/// The file header.
pub fn file_header() -> [u8; FILE_HEADER_BYTES as usize] {
    let mut header = [0; FILE_HEADER_BYTES as usize];
    header[..8].copy_from_slice(MAGIC);
    header[8..].copy_from_slice(&VERSION.to_le_bytes());
    header
}

/// One record, framed.
pub fn encode(entry: &Entry) -> Result<Vec<u8>, String> {
    let payload = rmp_serde::to_vec_named(entry).map_err(|e| e.to_string())?;
    if payload.len() > MAX_RECORD_BYTES {
        return Err(format!(
            "a record of {} bytes is over the limit of {MAX_RECORD_BYTES}",
            payload.len()
        ));
    }
    let length = payload.len() as u32;
    let mut bytes = Vec::with_capacity(RECORD_HEADER_BYTES + payload.len());
    bytes.extend_from_slice(&length.to_le_bytes());
    bytes.extend_from_slice(&(!length).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    bytes.extend_from_slice(&payload);
    Ok(bytes)
}

/// What is at one offset of the record area.
#[derive(Debug)]
pub enum Frame {
    /// A whole, intact record of `size` bytes (frame included).
    Record {
        /// The record.
        entry: Entry,
        /// Bytes it takes.
        size: usize,
    },
    /// The bytes run out before the record does: what a crash mid-write
    /// leaves at the end.
    Incomplete,
    /// A whole record whose checksum does not match its payload.
    BadChecksum {
        /// Bytes the frame claims.
        size: usize,
        /// The payload decoded anyway, if it could be (to say who it was).
        entry: Option<Entry>,
    },
    /// Bytes that are not a record: the length copies disagree, the length
    /// is over [`MAX_RECORD_BYTES`], or the payload is no entry.
    Garbage(String),
}

/// Decodes the record at the start of `bytes`.
pub fn decode(bytes: &[u8]) -> Frame {
    let Some(header) = bytes.get(..RECORD_HEADER_BYTES) else {
        return Frame::Incomplete;
    };
    let word =
        |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let (length, inverted, crc) = (word(0), word(4), word(8));
    if length != !inverted {
        return Frame::Garbage(format!(
            "the length copies disagree ({length} and {})",
            !inverted
        ));
    }
    let length = length as usize;
    if length > MAX_RECORD_BYTES {
        return Frame::Garbage(format!("a length of {length} bytes is over the limit"));
    }
    let size = RECORD_HEADER_BYTES + length;
    let Some(payload) = bytes.get(RECORD_HEADER_BYTES..size) else {
        return Frame::Incomplete;
    };
    if crc32fast::hash(payload) != crc {
        return Frame::BadChecksum {
            size,
            entry: rmp_serde::from_slice(payload).ok(),
        };
    }
    match rmp_serde::from_slice(payload) {
        Ok(entry) => Frame::Record { entry, size },
        Err(error) => Frame::Garbage(format!("the payload is no journal entry: {error}")),
    }
}

/// Reads a journal written before records had checksums (a 4-byte length
/// and a MessagePack map each): the entries of its valid prefix and the
/// length of that prefix.
pub fn decode_unchecked(bytes: &[u8]) -> (Vec<Entry>, usize) {
    let mut entries = Vec::new();
    let mut at = 0usize;
    while let Some(length) = bytes.get(at..at + 4) {
        let length = u32::from_le_bytes([length[0], length[1], length[2], length[3]]) as usize;
        let Some(record) = bytes.get(at + 4..at + 4 + length) else {
            break;
        };
        let Ok(entry) = rmp_serde::from_slice::<Entry>(record) else {
            break;
        };
        entries.push(entry);
        at += 4 + length;
    }
    (entries, at)
}
