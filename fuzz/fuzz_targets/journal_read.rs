//! Journals: any file contents read to entries and a valid prefix, or an
//! error; never a panic, a hang or a huge allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("mailrules-fuzz-journal-{}", std::process::id()));
    std::fs::write(&path, data).expect("temporary journal is writable");
    if let Ok((entries, valid, torn)) = mailrules::journal::read(&path) {
        assert_eq!(valid + torn, data.len() as u64);
        assert!(entries.len() as u64 <= valid / 5);
    }
});
