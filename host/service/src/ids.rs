//! Rules for the ids tenants choose: tenant ids, rule version names,
//! campaign ids (and the send ids the store makes).
//!
//! An id is 1 to [`MAX_ID_LEN`] bytes of lowercase ASCII letters, digits,
//! `.`, `_` and `-`, starting with a letter or digit. Such ids are safe in
//! URLs, file names, log lines and metric labels without escaping.

use crate::StoreError;

/// The longest id allowed, in bytes.
pub const MAX_ID_LEN: usize = 64;

/// What is wrong with `id`, or `None` if it is a valid id.
pub fn id_problem(id: &str) -> Option<String> {
    let bytes = id.as_bytes();
    let Some(&first) = bytes.first() else {
        return Some("must not be empty".to_owned());
    };
    if bytes.len() > MAX_ID_LEN {
        return Some(format!(
            "is {} bytes long; at most {MAX_ID_LEN} are allowed",
            bytes.len()
        ));
    }
    if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
        return Some(format!(
            "must start with a lowercase letter or a digit, not {:?}",
            id.chars().next().unwrap_or_default()
        ));
    }
    if let Some((at, c)) = id.char_indices().find(|&(_, c)| {
        !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
    }) {
        let hint = if c.is_ascii_uppercase() {
            " (ids are lowercase)"
        } else {
            ""
        };
        return Some(format!(
            "{c:?} at byte {at} is not allowed; use lowercase letters, digits, '.', '_' and '-'{hint}"
        ));
    }
    None
}

/// Checks an id; `what` names the kind in the error (e.g. `"tenant id"`).
pub fn validate_id(what: &'static str, id: &str) -> Result<(), StoreError> {
    match id_problem(id) {
        None => Ok(()),
        Some(reason) => Err(StoreError::InvalidId {
            what,
            id: id.to_owned(),
            reason,
        }),
    }
}

/// Checks a tenant id.
pub fn validate_tenant_id(id: &str) -> Result<(), StoreError> {
    validate_id("tenant id", id)
}

/// Checks a rule version name.
pub fn validate_rule_version(version: &str) -> Result<(), StoreError> {
    validate_id("rule version", version)
}

/// Checks a campaign id.
pub fn validate_campaign_id(id: &str) -> Result<(), StoreError> {
    validate_id("campaign id", id)
}

/// Checks a send id (made by the store, but given back by clients).
pub fn validate_send_id(id: &str) -> Result<(), StoreError> {
    validate_id("send id", id)
}

/// Checks the name of a component: 64 lowercase hex digits (a SHA-256).
pub fn validate_sha256_hex(sha256: &str) -> Result<(), StoreError> {
    let ok = sha256.len() == 64
        && sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidId {
            what: "component sha256",
            id: sha256.to_owned(),
            reason: "must be 64 lowercase hex digits".to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_ids() {
        for id in [
            "a",
            "0",
            "acme",
            "acme-corp",
            "v1.2.3",
            "2026-05_spring",
            "a..b",
            "x-",
            &"a".repeat(64),
        ] {
            assert_eq!(id_problem(id), None, "{id:?}");
            validate_tenant_id(id).unwrap();
        }
    }

    #[test]
    fn invalid_ids_say_why() {
        let cases: &[(&str, &str)] = &[
            ("", "must not be empty"),
            (&"a".repeat(65), "is 65 bytes long; at most 64 are allowed"),
            (
                "Acme",
                "must start with a lowercase letter or a digit, not 'A'",
            ),
            (
                "acMe",
                "'M' at byte 2 is not allowed; use lowercase letters, digits, '.', '_' and '-' (ids are lowercase)",
            ),
            (
                "..",
                "must start with a lowercase letter or a digit, not '.'",
            ),
            (
                "-a",
                "must start with a lowercase letter or a digit, not '-'",
            ),
            (
                "a/b",
                "'/' at byte 1 is not allowed; use lowercase letters, digits, '.', '_' and '-'",
            ),
            (
                "/",
                "must start with a lowercase letter or a digit, not '/'",
            ),
            (
                "café",
                "'é' at byte 3 is not allowed; use lowercase letters, digits, '.', '_' and '-'",
            ),
            (
                "é",
                "must start with a lowercase letter or a digit, not 'é'",
            ),
            (
                "a b",
                "' ' at byte 1 is not allowed; use lowercase letters, digits, '.', '_' and '-'",
            ),
            (
                "a\0",
                "'\\0' at byte 1 is not allowed; use lowercase letters, digits, '.', '_' and '-'",
            ),
        ];
        for (id, reason) in cases {
            assert_eq!(id_problem(id).as_deref(), Some(*reason), "{id:?}");
        }
    }

    #[test]
    fn length_is_counted_in_bytes() {
        // 63 ASCII bytes plus a two-byte character: 65 bytes.
        let id = format!("{}é", "a".repeat(63));
        assert_eq!(
            id_problem(&id).as_deref(),
            Some("is 65 bytes long; at most 64 are allowed")
        );
    }

    #[test]
    fn error_names_the_kind() {
        let err = validate_campaign_id("Spring").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid campaign id \"Spring\": must start with a lowercase letter or a digit, not 'S'"
        );
        assert!(matches!(
            err,
            StoreError::InvalidId {
                what: "campaign id",
                ..
            }
        ));
        let err = validate_rule_version("").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid rule version \"\": must not be empty"
        );
    }

    #[test]
    fn sha256_names() {
        validate_sha256_hex(&"0a".repeat(32)).unwrap();
        for bad in [
            "",
            "abc",
            &"0A".repeat(32),
            &"0a".repeat(33),
            "../../etc/passwd",
        ] {
            assert!(validate_sha256_hex(bad).is_err(), "{bad:?}");
        }
    }
}
