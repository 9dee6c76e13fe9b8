//! Journals: any file contents read to entries and a valid prefix, or an
//! error; never a panic, a hang or a huge allocation.
#![no_main]

use std::path::PathBuf;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;

/// Where each input is written: in memory when the machine has `/dev/shm`
/// (a write to disk would cost more than the read being tested); removed
/// after each input.
static JOURNAL: LazyLock<PathBuf> = LazyLock::new(|| {
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    dir.join(format!("mailrules-fuzz-journal-{}", std::process::id()))
});

fuzz_target!(|data: &[u8]| {
    let path = JOURNAL.as_path();
    std::fs::write(path, data).expect("temporary journal is writable");
    let read = mailrules::journal::read(path);
    std::fs::remove_file(path).expect("temporary journal is removable");
    if let Ok((entries, valid, torn)) = read {
        assert_eq!(valid + torn, data.len() as u64);
        assert!(entries.len() as u64 <= valid / 5);
    }
});
