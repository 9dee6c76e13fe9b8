//! Header text: whatever the input, the result has no control characters
//! (CR and LF above all) and no bidi or format controls, only single ASCII spaces, no white space at either
//! end, and at most `max_chars` characters plus the ellipsis that marks a cut.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailrules::render::headers::{header_text, is_format_control};

fuzz_target!(|data: &[u8]| {
    let Some((&[high, low], text)) = data.split_first_chunk::<2>() else {
        return;
    };
    let max_chars = usize::from(u16::from_be_bytes([high, low]) % 1024);
    let text = String::from_utf8_lossy(text);
    let out = header_text(&text, max_chars);
    assert!(
        !out.chars().any(|c| c.is_control()),
        "control character in {out:?}"
    );
    assert!(
        !out.chars().any(is_format_control),
        "bidi or format control in {out:?}"
    );
    assert!(
        !out.chars().any(|c| c.is_whitespace() && c != ' '),
        "white space other than a space in {out:?}"
    );
    assert!(!out.contains("  "), "double space in {out:?}");
    assert_eq!(out.trim(), out, "untrimmed");
    let chars = out.chars().count();
    assert!(
        chars <= max_chars + 1,
        "{chars} characters for a cap of {max_chars}: {out:?}"
    );
});
