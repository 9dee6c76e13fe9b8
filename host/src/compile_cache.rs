//! The compilation cache: machine code of rules compiled earlier, by content
//! hash, so that loading a rule again skips compiling it.
//!
//! The cache holds native code that is loaded without further checks, so:
//! it is used only while the directory and the entry belong to this user and
//! no one else may write them (a digest stored beside the code catches
//! corruption, not tampering: privacy is what keeps others out); each entry
//! carries the SHA-256 of its artifact and is verified before it is used
//! (an entry that does not match is removed and the rule compiled again);
//! the directory is created private (0700) and entries are written
//! private (0600), through a temporary file that is synced, renamed into
//! place and followed by a sync of the directory; and the cache is bounded
//! on disk, the least recently used entries removed past the bound.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

/// The first bytes of every cache entry (format version 1).
const MAGIC: &[u8; 8] = b"mrcwasm1";

/// Magic plus the artifact's SHA-256.
const HEADER_LEN: usize = MAGIC.len() + 32;

/// File name ending of cache entries.
const EXTENSION: &str = "cwasm";

/// A cache directory and its bound.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
    max_bytes: u64,
}

impl CompileCache {
    /// The cache in `dir`, kept under `max_bytes` on disk.
    pub fn new(dir: &Path, max_bytes: u64) -> Self {
        CompileCache {
            dir: dir.to_path_buf(),
            max_bytes,
        }
    }

    /// Where the entry named `key` lives.
    pub fn entry_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.{EXTENSION}"))
    }

    /// The artifact stored under `key`, if there is one and it is intact.
    /// An entry whose digest does not match is removed. A hit marks the
    /// entry as recently used.
    pub fn read(&self, key: &str) -> Option<Vec<u8>> {
        let path = self.entry_path(key);
        if !owned_privately(&self.dir) || !owned_privately(&path) {
            return None;
        }
        let mut entry = std::fs::read(&path).ok()?;
        if !intact(&entry) {
            let _ = std::fs::remove_file(&path);
            return None;
        }
        if let Ok(file) = File::options().write(true).open(&path) {
            let _ = file.set_modified(SystemTime::now());
        }
        entry.drain(..HEADER_LEN);
        Some(entry)
    }

    /// Stores `artifact` under `key` durably, then removes the least
    /// recently used entries until the cache fits its bound.
    pub fn write(&self, key: &str, artifact: &[u8]) -> std::io::Result<()> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        if !owned_privately(&self.dir) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "{}: the compile cache must belong to this user and be writable by no one else",
                    self.dir.display()
                ),
            ));
        }
        let path = self.entry_path(key);
        let temporary = self.dir.join(format!(".{key}.{}.tmp", std::process::id()));
        let written = write_synced(&temporary, artifact);
        if let Err(error) = written.and_then(|()| std::fs::rename(&temporary, &path)) {
            let _ = std::fs::remove_file(&temporary);
            return Err(error);
        }
        File::open(&self.dir)?.sync_all()?;
        self.evict(&path);
        Ok(())
    }

    /// Removes the oldest entries (by last use) other than `keep` while the
    /// entries together exceed the bound.
    fn evict(&self, keep: &Path) {
        let Ok(listing) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut entries: Vec<(SystemTime, u64, PathBuf)> = listing
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == EXTENSION))
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                Some((meta.modified().ok()?, meta.len(), e.path()))
            })
            .collect();
        let mut total: u64 = entries.iter().map(|(_, len, _)| len).sum();
        entries.sort();
        for (_, len, path) in entries {
            if total <= self.max_bytes {
                break;
            }
            if path != keep && std::fs::remove_file(&path).is_ok() {
                total -= len;
            }
        }
    }
}

/// Whether `path` belongs to the effective user and neither its group nor
/// others may write it: only then may native code from it be trusted.
fn owned_privately(path: &Path) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let user = unsafe { libc::geteuid() };
    std::fs::symlink_metadata(path).is_ok_and(|meta| meta.uid() == user && meta.mode() & 0o022 == 0)
}

/// Whether an entry's artifact matches the digest in its header.
fn intact(entry: &[u8]) -> bool {
    entry.len() > HEADER_LEN
        && entry.starts_with(MAGIC)
        && Sha256::digest(&entry[HEADER_LEN..]).as_slice() == &entry[MAGIC.len()..HEADER_LEN]
}

/// Writes header and artifact to a new private file and syncs it.
fn write_synced(path: &Path, artifact: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(MAGIC)?;
    file.write_all(&Sha256::digest(artifact))?;
    file.write_all(artifact)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_cache_others_may_write_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::new(&dir.path().join("cache"), 1 << 20);
        cache.write("k", b"native code").unwrap();
        assert_eq!(cache.read("k").as_deref(), Some(&b"native code"[..]));
        let shared = std::fs::Permissions::from_mode(0o777);
        std::fs::set_permissions(dir.path().join("cache"), shared).unwrap();
        assert_eq!(cache.read("k"), None, "a shared directory is not trusted");
        assert!(cache.write("k2", b"more").is_err());
        let private = std::fs::Permissions::from_mode(0o700);
        std::fs::set_permissions(dir.path().join("cache"), private).unwrap();
        let writable = std::fs::Permissions::from_mode(0o666);
        std::fs::set_permissions(cache.entry_path("k"), writable).unwrap();
        assert_eq!(
            cache.read("k"),
            None,
            "an entry others may write is not trusted"
        );
    }

    #[test]
    fn entries_round_trip_privately() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::new(&dir.path().join("cache"), 1 << 20);
        cache.write("a", b"machine code").unwrap();
        assert_eq!(cache.read("a").as_deref(), Some(&b"machine code"[..]));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("cache")), 0o700);
        assert_eq!(mode(&cache.entry_path("a")), 0o600);
        assert_eq!(cache.read("b"), None);
    }

    #[test]
    fn a_tampered_entry_is_refused_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CompileCache::new(dir.path(), 1 << 20);
        cache.write("a", b"machine code").unwrap();
        let path = cache.entry_path("a");
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(cache.read("a"), None);
        assert!(!path.exists());
    }

    #[test]
    fn the_least_recently_used_entries_go_past_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        // Room for two entries of 100 bytes plus header, not three.
        let cache = CompileCache::new(dir.path(), 2 * (100 + HEADER_LEN as u64));
        let old = SystemTime::now() - std::time::Duration::from_secs(3600);
        for key in ["first", "second"] {
            cache.write(key, &[7; 100]).unwrap();
            let file = File::options()
                .write(true)
                .open(cache.entry_path(key))
                .unwrap();
            file.set_modified(old).unwrap();
        }
        // Using `first` makes `second` the least recently used.
        assert!(cache.read("first").is_some());
        cache.write("third", &[7; 100]).unwrap();
        assert!(cache.entry_path("first").exists());
        assert!(!cache.entry_path("second").exists());
        assert!(cache.entry_path("third").exists());
    }
}
