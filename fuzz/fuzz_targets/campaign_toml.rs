//! Campaign TOML: any text parses to a campaign or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailrules::Campaign;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Campaign::parse(text, std::path::Path::new("fuzz.toml"));
    }
});
