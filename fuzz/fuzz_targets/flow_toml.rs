//! Flow TOML: any text parses to a flow or an error with its line, never a
//! panic; a parsed flow computes due times in any zone.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailrules::lifecycle::flow::Flow;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(flow) = Flow::parse(text, "fuzz")
    {
        for zone in [
            chrono_tz::Tz::UTC,
            chrono_tz::Pacific::Kiritimati,
            chrono_tz::America::New_York,
        ] {
            let _ = flow.due_at(1_795_510_800, zone);
            let _ = flow.due_at(0, zone);
        }
    }
});
