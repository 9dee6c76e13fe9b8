//! Component files, named by the SHA-256 of their bytes:
//! `components/<sha256 hex>.wasm`.
//!
//! A file is written once (temporary file in the same directory, fsync,
//! rename, fsync of the directory), so a crash leaves either no file or the
//! whole file; reading re-hashes, so a damaged file is reported rather than
//! run.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::Store;
use crate::StoreError;
use crate::ids::validate_sha256_hex;
use crate::tokens::random_hex;

/// Prefix of temporary files; anything with it is left over from a crash.
const TEMP_PREFIX: &str = ".tmp-";

impl Store {
    /// Stores a component and returns the SHA-256 (lowercase hex) it is
    /// known by. Storing the same bytes again does nothing.
    pub fn put_component(&self, bytes: &[u8]) -> Result<String, StoreError> {
        let sha = hex::encode(Sha256::digest(bytes));
        let path = self.component_path(&sha);
        if path.exists() {
            return Ok(sha);
        }
        let temp = self
            .components_dir
            .join(format!("{TEMP_PREFIX}{sha}-{}", random_hex(8)));
        let written = write_synced(&temp, bytes)
            .and_then(|()| fs::rename(&temp, &path).map_err(|e| StoreError::io(&path, e)));
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
        sync_dir(&self.components_dir)?;
        Ok(sha)
    }

    /// The bytes of the component with this SHA-256, checked against it.
    ///
    /// [`StoreError::NotFound`] if there is no such component,
    /// [`StoreError::Corrupt`] if the file no longer hashes to its name.
    pub fn component(&self, sha256: &str) -> Result<Vec<u8>, StoreError> {
        validate_sha256_hex(sha256)?;
        let path = self.component_path(sha256);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound {
                    what: "component",
                    id: sha256.to_owned(),
                });
            }
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        let actual = hex::encode(Sha256::digest(&bytes));
        if actual != sha256 {
            return Err(StoreError::Corrupt(format!(
                "{}: the file's SHA-256 is {actual}, not the one it is named by",
                path.display()
            )));
        }
        Ok(bytes)
    }

    /// Whether a component with this SHA-256 is stored (without reading it).
    pub fn has_component(&self, sha256: &str) -> Result<bool, StoreError> {
        validate_sha256_hex(sha256)?;
        Ok(self.component_path(sha256).is_file())
    }

    /// Where the component with this (already validated) SHA-256 lives.
    fn component_path(&self, sha256: &str) -> PathBuf {
        self.components_dir.join(format!("{sha256}.wasm"))
    }
}

/// Creates `path` (which must not exist), writes `bytes` and syncs it.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut file = File::options()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| StoreError::io(path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| StoreError::io(path, e))
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))
}

/// Removes temporary files a crash left in the components directory.
pub(super) fn remove_stale_temp_files(dir: &Path) -> Result<(), StoreError> {
    let entries = fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io(dir, e))?;
        if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            let path = entry.path();
            fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support;

    // SHA-256("hello").
    const HELLO: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn put_and_get() {
        let (dir, store) = test_support::store();
        assert!(!store.has_component(HELLO).unwrap());
        let sha = store.put_component(b"hello").unwrap();
        assert_eq!(sha, HELLO);
        assert!(store.has_component(HELLO).unwrap());
        assert_eq!(store.component(HELLO).unwrap(), b"hello");
        let file = dir.path().join("components").join(format!("{HELLO}.wasm"));
        assert_eq!(fs::read(&file).unwrap(), b"hello");
        // No temporary files are left behind.
        let names: Vec<_> = fs::read_dir(dir.path().join("components"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, [format!("{HELLO}.wasm")]);
    }

    #[test]
    fn putting_again_keeps_the_file() {
        let (dir, store) = test_support::store();
        store.put_component(b"hello").unwrap();
        let file = dir.path().join("components").join(format!("{HELLO}.wasm"));
        let before = fs::metadata(&file).unwrap().modified().unwrap();
        assert_eq!(store.put_component(b"hello").unwrap(), HELLO);
        assert_eq!(fs::metadata(&file).unwrap().modified().unwrap(), before);
    }

    #[test]
    fn empty_component() {
        let (_dir, store) = test_support::store();
        let sha = store.put_component(b"").unwrap();
        assert_eq!(
            sha,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(store.component(&sha).unwrap(), b"");
    }

    #[test]
    fn missing_component_is_not_found() {
        let (_dir, store) = test_support::store();
        let err = store.component(HELLO).unwrap_err();
        assert!(
            matches!(err, StoreError::NotFound { what: "component", ref id } if id == HELLO),
            "{err:?}"
        );
    }

    #[test]
    fn damaged_component_is_corrupt() {
        let (dir, store) = test_support::store();
        store.put_component(b"hello").unwrap();
        let file = dir.path().join("components").join(format!("{HELLO}.wasm"));
        fs::write(&file, b"hellp").unwrap();
        let err = store.component(HELLO).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
        assert!(err.to_string().contains("the file's SHA-256 is"), "{err}");
    }

    #[test]
    fn names_are_validated() {
        let (_dir, store) = test_support::store();
        for bad in ["../mailrules.sqlite3", "HELLO", &HELLO.to_uppercase()] {
            assert!(matches!(
                store.component(bad),
                Err(StoreError::InvalidId { .. })
            ));
            assert!(store.has_component(bad).is_err());
        }
    }

    #[test]
    fn stale_temp_files_are_removed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        let stale = dir.path().join("components").join(".tmp-abc-0011");
        fs::write(&stale, b"half a component").unwrap();
        drop(Store::open(dir.path()).unwrap());
        assert!(!stale.exists());
    }
}
