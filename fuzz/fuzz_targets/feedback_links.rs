//! Feedback input from outside: any text as a link token (read, verified
//! under a fixed key — never a panic, and only a token signed with that key
//! verifies), as a suppression list, and as the HTML part whose links are
//! rewritten for tracking (which must keep every click link verifiable).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailrules::feedback::links::{LinkSubject, SignedLinks};
use mailrules::feedback::suppressions::SuppressionList;
use mailrules::feedback::token::{FeedbackKey, LinkKind, UnverifiedToken};

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
    let links = SignedLinks::new("https://t.example", "acme", key.clone());
    let subject = LinkSubject {
        customer: "c-1",
        campaign: "k",
        message_id: "<m@k>",
    };
    if let Ok(html) = links.track_html(text, subject) {
        for href in html.split("https://t.example/c/").skip(1) {
            let token: String = href
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                .collect();
            // Only links the rewriter made start this way, unless the input
            // wrote one itself (which then need not verify).
            if let Ok(claims) = UnverifiedToken::parse(&token).and_then(|t| t.verify(&key)) {
                assert_eq!(claims.kind, LinkKind::Click);
                assert!(claims.target.is_some());
            }
        }
    }
});
