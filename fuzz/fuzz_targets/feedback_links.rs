//! Feedback input from outside: any text as a link token (read, then
//! verified under a fixed key — never a panic, and nothing random
//! verifies) and as a suppression list.
//!
//! The HTML rewriting for tracking is not fuzzed here: lol_html 2.9 has
//! inputs that reach an internal error guarded by a `debug_assert!`, which
//! this build (debug assertions on) turns into a crash; in release builds it
//! is an error and the message goes out untracked (pinned by
//! `feedback::links` tests with the input the fuzzer found).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailrules::feedback::suppressions::SuppressionList;
use mailrules::feedback::token::{FeedbackKey, UnverifiedToken};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let key = FeedbackKey::from_bytes([9; 32]);
    if let Ok(token) = UnverifiedToken::parse(text) {
        let _ = token.tenant();
        // Nothing random verifies: the fuzzer cannot forge a 128-bit MAC.
        assert!(
            token.verify(&key).is_err(),
            "a forged token verified: {text:?}"
        );
    }
    let _ = SuppressionList::parse(text);
});
