//! MessagePack profiles: any bytes give records or one final error, and
//! reading never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailrules::{ProfileFormat, ProfileReader};

fuzz_target!(|data: &[u8]| {
    let reader = ProfileReader::new(
        std::io::Cursor::new(data.to_vec()),
        ProfileFormat::MessagePack,
    );
    for record in reader {
        let _ = record.profile;
    }
});
