//! Streams profiles from JSON Lines or MessagePack, one record at a time, so
//! memory stays flat however large the input.
//!
//! A record that does not parse becomes a [`ProfileError`] naming its line
//! (JSONL) or record number and byte offset (MessagePack), the field path and
//! the problem; the stream goes on with the next record. Only a MessagePack
//! stream that is broken at the byte level ends early, since no record
//! boundary can be found after that; the error says so.

use std::io::{BufRead, Read};
use std::path::Path;

use serde::Deserialize;

use crate::error::InputError;
use crate::profile::Profile;

/// Longest JSONL line accepted (1 MiB); a longer line is an error for that
/// record, skipped without being held in memory.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// How profiles are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileFormat {
    /// One JSON object per line (`.jsonl`, `.ndjson`).
    JsonLines,
    /// A stream of MessagePack maps (`.msgpack`, `.mpk`).
    MessagePack,
}

impl ProfileFormat {
    /// Picks the format from a file extension; `None` when it says nothing.
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "jsonl" | "ndjson" | "json" => Some(ProfileFormat::JsonLines),
            "msgpack" | "mpk" | "mp" => Some(ProfileFormat::MessagePack),
            _ => None,
        }
    }
}

/// Where a record sits in its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// A line of a JSONL stream (1-based).
    Line(u64),
    /// A record of a MessagePack stream (1-based) and its byte offset.
    Record {
        /// 1-based record number.
        index: u64,
        /// Offset of the record's first byte.
        offset: u64,
    },
}

impl Position {
    /// The line (JSONL) or record number (MessagePack).
    pub fn number(&self) -> u64 {
        match self {
            Position::Line(line) => *line,
            Position::Record { index, .. } => *index,
        }
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Position::Line(line) => write!(f, "line {line}"),
            Position::Record { index, offset } => write!(f, "record {index} (byte {offset})"),
        }
    }
}

/// A record that could not be read as a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileError {
    /// Where it is.
    pub position: Position,
    /// Its `id`, when one could be read.
    pub profile_id: Option<String>,
    /// What is wrong, with the field path.
    pub message: String,
}

impl std::fmt::Display for ProfileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.position, self.message)
    }
}

/// One record of the input: a profile, or why it is not one.
#[derive(Debug)]
pub struct ProfileRecord {
    /// Where the record sits.
    pub position: Position,
    /// The parsed profile.
    pub profile: Result<Profile, ProfileError>,
}

/// An iterator over the profiles of one input.
pub struct ProfileReader {
    inner: Box<dyn Iterator<Item = ProfileRecord> + Send>,
    bytes_read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl ProfileReader {
    /// Reads profiles in `format` from `input`.
    pub fn new(input: impl Read + Send + 'static, format: ProfileFormat) -> Self {
        let bytes_read = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let input: Box<dyn Read + Send> = Box::new(input);
        let counted = CountingReader {
            inner: input,
            count: bytes_read.clone(),
        };
        let reader = std::io::BufReader::with_capacity(64 << 10, counted);
        let inner: Box<dyn Iterator<Item = ProfileRecord> + Send> = match format {
            ProfileFormat::JsonLines => Box::new(JsonLines {
                reader,
                line: 0,
                buffer: Vec::new(),
            }),
            ProfileFormat::MessagePack => Box::new(MessagePack {
                reader,
                index: 0,
                broken: false,
            }),
        };
        ProfileReader { inner, bytes_read }
    }

    /// Opens `path` (`-` for standard input). The format comes from
    /// `format`, else from the extension, else JSON Lines.
    pub fn open(path: &Path, format: Option<ProfileFormat>) -> Result<Self, InputError> {
        let format = format
            .or_else(|| ProfileFormat::from_path(path))
            .unwrap_or(ProfileFormat::JsonLines);
        if path == Path::new("-") {
            return Ok(Self::new(std::io::stdin(), format));
        }
        let file = std::fs::File::open(path).map_err(|source| InputError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self::new(file, format))
    }

    /// Bytes consumed from the input so far (for progress).
    pub fn bytes_read(&self) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
        self.bytes_read.clone()
    }
}

impl Iterator for ProfileReader {
    type Item = ProfileRecord;

    fn next(&mut self) -> Option<ProfileRecord> {
        self.inner.next()
    }
}

struct CountingReader<R> {
    inner: R,
    count: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

type Buffered = std::io::BufReader<CountingReader<Box<dyn Read + Send>>>;

struct JsonLines<R> {
    reader: R,
    line: u64,
    buffer: Vec<u8>,
}

impl<R: BufRead> Iterator for JsonLines<R> {
    type Item = ProfileRecord;

    fn next(&mut self) -> Option<ProfileRecord> {
        loop {
            self.buffer.clear();
            self.line += 1;
            let position = Position::Line(self.line);
            let fail = |message: String| ProfileRecord {
                position,
                profile: Err(ProfileError {
                    position,
                    profile_id: None,
                    message,
                }),
            };
            let read = (&mut self.reader)
                .take(MAX_LINE_BYTES as u64 + 1)
                .read_until(b'\n', &mut self.buffer);
            match read {
                Ok(0) => return None,
                Ok(_) => {}
                Err(error) => return Some(fail(format!("cannot read input: {error}"))),
            }
            if self.buffer.len() > MAX_LINE_BYTES && self.buffer.last() != Some(&b'\n') {
                if let Err(error) = skip_line(&mut self.reader) {
                    return Some(fail(format!("cannot read input: {error}")));
                }
                return Some(fail(format!("line is longer than {MAX_LINE_BYTES} bytes")));
            }
            let text = match std::str::from_utf8(&self.buffer) {
                Ok(text) => text.trim(),
                Err(error) => return Some(fail(format!("not UTF-8: {error}"))),
            };
            if text.is_empty() {
                continue;
            }
            // The plain parse is the fast path; only a line that fails is
            // parsed again, tracking the path, to say where it is wrong.
            if let Ok(profile) = serde_json::from_str::<Profile>(text) {
                return Some(ProfileRecord {
                    position,
                    profile: Ok(profile),
                });
            }
            let mut deserializer = serde_json::Deserializer::from_str(text);
            let parsed = serde_path_to_error::deserialize::<_, Profile>(&mut deserializer)
                .map_err(describe)
                .and_then(|profile| {
                    deserializer
                        .end()
                        .map(|()| profile)
                        .map_err(|e| e.to_string())
                });
            let profile = parsed.map_err(|message| ProfileError {
                position,
                profile_id: id_of_json(text),
                message,
            });
            return Some(ProfileRecord { position, profile });
        }
    }
}

fn skip_line(reader: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(());
        }
        match available.iter().position(|&b| b == b'\n') {
            Some(at) => {
                reader.consume(at + 1);
                return Ok(());
            }
            None => {
                let n = available.len();
                reader.consume(n);
            }
        }
    }
}

fn describe<E: std::fmt::Display>(error: serde_path_to_error::Error<E>) -> String {
    let path = error.path().to_string();
    if path == "." {
        error.into_inner().to_string()
    } else {
        format!("{path}: {}", error.into_inner())
    }
}

#[derive(Deserialize)]
struct IdOnly {
    id: Option<serde_json::Value>,
}

fn id_of_json(text: &str) -> Option<String> {
    let id = serde_json::from_str::<IdOnly>(text).ok()?.id?;
    id.as_str().map(String::from)
}

struct MessagePack<R> {
    reader: R,
    index: u64,
    broken: bool,
}

impl MessagePack<Buffered> {
    fn offset(&self) -> u64 {
        let consumed = self
            .reader
            .get_ref()
            .count
            .load(std::sync::atomic::Ordering::Relaxed);
        consumed - self.reader.buffer().len() as u64
    }
}

impl Iterator for MessagePack<Buffered> {
    type Item = ProfileRecord;

    fn next(&mut self) -> Option<ProfileRecord> {
        if self.broken {
            return None;
        }
        match self.reader.fill_buf() {
            Ok([]) => return None,
            Ok(_) => {}
            Err(error) => {
                self.broken = true;
                let position = Position::Record {
                    index: self.index + 1,
                    offset: self.offset(),
                };
                return Some(unreadable(position, format!("cannot read input: {error}")));
            }
        }
        self.index += 1;
        let position = Position::Record {
            index: self.index,
            offset: self.offset(),
        };
        // The fast path: the typed decode straight from the buffered bytes,
        // when the whole record is there and is a valid profile.
        if let Ok(buffered) = self.reader.fill_buf() {
            let mut rest = buffered;
            if let Ok(profile) = rmp_serde::from_read::<_, Profile>(&mut rest) {
                let used = buffered.len() - rest.len();
                self.reader.consume(used);
                return Some(ProfileRecord {
                    position,
                    profile: Ok(profile),
                });
            }
        }
        // Otherwise one record's bytes, found by skipping it; then the
        // typed decode from them, and only for a record it refuses the
        // generic one that says where it is wrong.
        let mut recorder = Recorder {
            inner: &mut self.reader,
            bytes: Vec::new(),
        };
        let skipped =
            serde::de::IgnoredAny::deserialize(&mut rmp_serde::Deserializer::new(&mut recorder));
        let bytes = recorder.bytes;
        if let Err(error) = skipped {
            self.broken = true;
            return Some(unreadable(
                position,
                format!("not valid MessagePack ({error}); the rest of the stream cannot be read"),
            ));
        }
        if let Ok(profile) = rmp_serde::from_slice::<Profile>(&bytes) {
            return Some(ProfileRecord {
                position,
                profile: Ok(profile),
            });
        }
        let value = match rmp_serde::from_slice::<serde_json::Value>(&bytes) {
            Ok(value) => value,
            // Well-formed MessagePack, but not a JSON-like value (binary
            // data, a map with other than string keys): this record only.
            Err(error) => return Some(unreadable(position, format!("not a profile: {error}"))),
        };
        let profile_id = value.get("id").and_then(|id| id.as_str()).map(String::from);
        let profile =
            serde_path_to_error::deserialize::<_, Profile>(value).map_err(|error| ProfileError {
                position,
                profile_id,
                message: describe(error),
            });
        Some(ProfileRecord { position, profile })
    }
}

/// The record at `position` that could not be read, and why.
fn unreadable(position: Position, message: String) -> ProfileRecord {
    ProfileRecord {
        position,
        profile: Err(ProfileError {
            position,
            profile_id: None,
            message,
        }),
    }
}

/// A reader that keeps a copy of every byte read through it.
struct Recorder<'r, R> {
    inner: &'r mut R,
    bytes: Vec<u8>,
}

impl<R: Read> Read for Recorder<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &[u8], format: ProfileFormat) -> Vec<ProfileRecord> {
        ProfileReader::new(std::io::Cursor::new(input.to_vec()), format).collect()
    }

    #[test]
    fn jsonl_reports_bad_lines_by_number_and_goes_on() {
        let input = b"{\"id\":\"a\",\"email\":\"a@x.y\"}\n\n{\"id\":\"b\",\"email\":\"b@x.y\",\"orders\":{\"last_order_at\":\"soon\"}}\nnot json\n{\"id\":\"c\",\"email\":\"c@x.y\"}";
        let records = read(input, ProfileFormat::JsonLines);
        assert_eq!(records.len(), 4);
        assert_eq!(records[0].profile.as_ref().unwrap().id, "a");
        let bad = records[1].profile.as_ref().unwrap_err();
        assert_eq!(bad.position, Position::Line(3));
        assert_eq!(bad.profile_id.as_deref(), Some("b"));
        assert!(
            bad.message.starts_with("orders.last_order_at: `soon`"),
            "{}",
            bad.message
        );
        let garbage = records[2].profile.as_ref().unwrap_err();
        assert_eq!(garbage.position, Position::Line(4));
        assert_eq!(records[3].profile.as_ref().unwrap().id, "c");
    }

    #[test]
    fn jsonl_rejects_overlong_lines_without_losing_the_next() {
        let mut input = vec![b'x'; MAX_LINE_BYTES + 10];
        input.extend_from_slice(b"\n{\"id\":\"d\",\"email\":\"d@x.y\"}\n");
        let records = read(&input, ProfileFormat::JsonLines);
        assert_eq!(records.len(), 2);
        assert!(
            records[0]
                .profile
                .as_ref()
                .unwrap_err()
                .message
                .contains("longer than")
        );
        assert_eq!(records[1].profile.as_ref().unwrap().id, "d");
    }

    #[test]
    fn jsonl_rejects_trailing_garbage_and_invalid_utf8() {
        let records = read(
            b"{\"id\":\"a\",\"email\":\"a@x.y\"} {}\n\xff\xfe\n",
            ProfileFormat::JsonLines,
        );
        assert!(records[0].profile.is_err());
        assert!(
            records[1]
                .profile
                .as_ref()
                .unwrap_err()
                .message
                .contains("UTF-8")
        );
    }

    #[test]
    fn messagepack_stream_reads_records_and_reports_bad_ones() {
        let mut input = Vec::new();
        for value in [
            serde_json::json!({"id": "a", "email": "a@x.y", "tags": ["vip"]}),
            serde_json::json!({"id": "b", "email": 42}),
            serde_json::json!({"id": "c", "email": "c@x.y"}),
        ] {
            input.extend(rmp_serde::to_vec_named(&value).unwrap());
        }
        let records = read(&input, ProfileFormat::MessagePack);
        assert_eq!(records.len(), 3);
        assert_eq!(records[0].profile.as_ref().unwrap().tags, vec!["vip"]);
        let bad = records[1].profile.as_ref().unwrap_err();
        assert_eq!(bad.profile_id.as_deref(), Some("b"));
        assert!(matches!(bad.position, Position::Record { index: 2, offset } if offset > 0));
        assert_eq!(records[2].profile.as_ref().unwrap().id, "c");
    }

    #[test]
    fn truncated_messagepack_ends_with_one_error() {
        let mut input =
            rmp_serde::to_vec_named(&serde_json::json!({"id": "a", "email": "a@x.y"})).unwrap();
        let second =
            rmp_serde::to_vec_named(&serde_json::json!({"id": "b", "email": "b@x.y"})).unwrap();
        input.extend_from_slice(&second[..second.len() - 3]);
        let records = read(&input, ProfileFormat::MessagePack);
        assert_eq!(records.len(), 2);
        assert!(
            records[1]
                .profile
                .as_ref()
                .unwrap_err()
                .message
                .contains("cannot be read")
        );
    }
}
