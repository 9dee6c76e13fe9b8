//! Codes and reason prefixes that only the host may use, so a rule cannot
//! pass its own decisions off as the host's: a rule that suppresses with
//! `no-consent` or notes `fallback-block:hero` would otherwise be
//! indistinguishable, in output, journal and reports, from the host's
//! consent check or its fallback. A decision that uses one is invalid
//! (`invalid-decision`), like any other decision that breaks a host rule.

/// Suppression and failure codes the host records itself. Also reserved:
/// every code that starts with [`HOST_PREFIXES`].
pub const HOST_CODES: [&str; 13] = [
    crate::policy::NO_CONSENT,
    crate::feedback::suppressions::UNSUBSCRIBED,
    crate::policy::HOLDOUT,
    "rules-off",
    "breaker-open",
    "out-of-fuel",
    "timeout",
    "out-of-memory",
    "stack-overflow",
    "trap",
    "rule-error",
    "invalid-decision",
    "input-error",
];

/// Prefixes of the notes the host adds to a decision's reasons
/// (`fallback-block:<slot>`, `ab:<split>-><arm>`), and the namespaces kept
/// for the host's future codes.
pub const HOST_PREFIXES: [&str; 4] = ["fallback-block:", "ab:", "host:", "host-"];

/// Whether `code` (a suppression code or a reason) belongs to the host.
/// Summaries and reports count codes by the part before the first `:`, so
/// `no-consent:x` is the host's too.
pub fn is_host_code(code: &str) -> bool {
    let head = code.split(':').next().unwrap_or(code);
    HOST_CODES.contains(&head) || HOST_PREFIXES.iter().any(|prefix| code.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_codes_and_prefixes_are_reserved() {
        for code in [
            "no-consent",
            "holdout",
            "out-of-fuel",
            "breaker-open",
            "fallback-block:hero",
            "ab:default->b",
            "host:anything",
            "host-paused",
            "no-consent:really",
            "timeout:1",
        ] {
            assert!(is_host_code(code), "{code}");
        }
        for code in [
            "sunset",
            "sunset:dormant",
            "no-consent-yet",
            "fallback",
            "vip",
            "ab",
            "hostile",
        ] {
            assert!(!is_host_code(code), "{code}");
        }
    }
}
