//! The one definition of a valid id (variant, slot, block, segment, reason
//! code) for campaigns and decisions alike: ids end up in reports and mail
//! headers, so they are short and plain.

/// The characters an id may contain, as told in error messages.
pub const ALLOWED: &str = "a-z, A-Z, 0-9, `-`, `_`, `.`, `:`";

/// Whether `id` is 1 to `max_bytes` bytes of [`ALLOWED`] characters.
pub fn is_valid(id: &str, max_bytes: usize) -> bool {
    !id.is_empty()
        && id.len() <= max_bytes
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ids_pass_and_anything_else_fails() {
        assert!(is_valid("rec-outdoor", 64));
        assert!(is_valid("variant:vip_2.b", 64));
        assert!(!is_valid("", 64));
        assert!(!is_valid("has space", 64));
        assert!(!is_valid("x\r\nBcc: y", 64));
        assert!(!is_valid("é", 64));
        assert!(!is_valid("abc", 2));
    }
}
