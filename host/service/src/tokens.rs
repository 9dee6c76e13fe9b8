//! API tokens: random, shown to the tenant once, stored only as a SHA-256.
//!
//! A token is [`TOKEN_PREFIX`] followed by 64 lowercase hex digits (32 bytes
//! from the operating system's random number generator). The store keeps
//! [`hash_token`] of it; [`tokens_match`] compares hashes in constant time.

use rand::TryRng;
use rand::rngs::SysRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The prefix of every token, so that leaked tokens are easy to recognise
/// (e.g. by secret scanners).
pub const TOKEN_PREFIX: &str = "mrt_";

/// Number of random bytes in a token.
pub const TOKEN_RANDOM_BYTES: usize = 32;

/// A new random token: `mrt_` and 64 lowercase hex digits.
///
/// # Panics
///
/// If the operating system's random number generator fails, which on the
/// platforms mailrules supports only happens when the system is unusable.
pub fn new_token() -> String {
    let mut bytes = [0u8; TOKEN_RANDOM_BYTES];
    SysRng
        .try_fill_bytes(&mut bytes)
        .expect("the operating system's random number generator failed");
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

/// The SHA-256 of a token's text: what the store keeps instead of the token.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Whether `presented` is the token whose hash is `stored_hash`.
///
/// The hashes are compared in constant time; a stored hash of the wrong
/// length never matches.
pub fn tokens_match(presented: &str, stored_hash: &[u8]) -> bool {
    hash_token(presented).as_slice().ct_eq(stored_hash).into()
}

/// Random bytes from the operating system, as lowercase hex (for ids).
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    SysRng
        .try_fill_bytes(&mut buf)
        .expect("the operating system's random number generator failed");
    hex::encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shape() {
        let token = new_token();
        assert_eq!(token.len(), 4 + 64);
        let digits = token.strip_prefix("mrt_").expect("prefix");
        assert!(
            digits
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
    }

    #[test]
    fn tokens_are_distinct() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
    }

    #[test]
    fn hash_is_sha256_of_the_text() {
        // Pinned: SHA-256("mrt_test").
        assert_eq!(
            hex::encode(hash_token("mrt_test")),
            "062879befa55557946fc4074c5da40efffe61642bd4e7c849b70d71a63a2a1eb"
        );
        // And of the empty string, the well-known value.
        assert_eq!(
            hex::encode(hash_token("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn matching() {
        let token = new_token();
        let stored = hash_token(&token);
        assert!(tokens_match(&token, &stored));
        assert!(!tokens_match(&new_token(), &stored));
        assert!(!tokens_match("", &stored));
        // One character changed.
        let mut other = token.clone();
        let last = other.pop().unwrap();
        other.push(if last == '0' { '1' } else { '0' });
        assert!(!tokens_match(&other, &stored));
        // Wrong-length stored hashes never match.
        assert!(!tokens_match(&token, &stored[..31]));
        assert!(!tokens_match(&token, &[]));
    }
}
