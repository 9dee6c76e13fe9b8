//! Shared helpers for the integration tests: where the guest components
//! and the CLI are, a generator of large, varied profile sets, and an
//! independent implementation of the reference pack's specification to check
//! the real component against.

pub mod generator;
pub mod noisy;
pub mod oracle;
pub mod postfix;

use std::path::{Path, PathBuf};

/// The campaign time used by the example campaign and the generator.
pub const NOW: &str = "2026-11-24T09:00:00Z";

/// `NOW` in seconds since the epoch.
pub fn now() -> i64 {
    chrono::DateTime::parse_from_rfc3339(NOW)
        .expect("valid constant")
        .timestamp()
}

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the root")
        .to_path_buf()
}

/// The component built from `guest-rules/<name>`.
pub fn rule(name: &str) -> PathBuf {
    let path = Path::new(env!("MAILRULES_TEST_RULES")).join(format!("{name}.wasm"));
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

/// The `mailrules` binary of this build (cargo builds it for the host
/// package's own tests, next to this test's `deps/` directory).
pub fn mailrules_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/…");
    let bin = dir.join(format!("mailrules{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} is missing: run the tests with `cargo test --workspace` (scripts/test.sh), which builds it",
        bin.display()
    );
    bin
}

/// Reads a JSONL file into values.
pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect()
}

/// Writes values as JSONL.
pub fn write_jsonl(path: &Path, values: &[serde_json::Value]) {
    let mut text = String::new();
    for value in values {
        text.push_str(&value.to_string());
        text.push('\n');
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}
