//! JSON Lines profiles: any bytes give one record (or error) per line, and
//! reading never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailrules::{ProfileFormat, ProfileReader};

fuzz_target!(|data: &[u8]| {
    let reader = ProfileReader::new(
        std::io::Cursor::new(data.to_vec()),
        ProfileFormat::JsonLines,
    );
    for record in reader {
        let _ = record.profile;
    }
});
