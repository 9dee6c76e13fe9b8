//! Signed link tokens: what the unsubscribe, open and click links carry.
//!
//! A token is `PAYLOAD.MAC`, both unpadded base64url: the payload is the
//! MessagePack form of [`LinkClaims`] (which link, tenant, customer,
//! campaign, Message-ID and, for a click, the link's target), the MAC the
//! first 16 bytes of HMAC-SHA256 over a domain tag and the payload, keyed
//! with the tenant's [`FeedbackKey`]. Without the key nobody can make a
//! token for another customer, message or target, so links cannot be
//! enumerated or turned into an open redirect; a changed byte anywhere
//! makes the MAC fail. The payload is signed, not encrypted: it names the
//! recipient's own ids to whoever holds the recipient's message.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Longest token accepted, in characters (a click's target of up to
/// [`crate::lifecycle::events::MAX_URL_BYTES`] fits).
pub const MAX_TOKEN_CHARS: usize = 4096;

/// Bytes of the MAC kept in a token (128 bits).
const MAC_BYTES: usize = 16;

/// Separates the MAC's input from anything else the key may ever sign.
const DOMAIN: &[u8] = b"mailrules-feedback-link-v1\0";

/// A tenant's secret for signing links: 32 random bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct FeedbackKey([u8; 32]);

impl FeedbackKey {
    /// The key made of `bytes` (which should come from a secure random
    /// number generator).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        FeedbackKey(bytes)
    }

    /// The key from a stored slice; `None` unless it is 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(FeedbackKey)
    }

    fn mac(&self) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(DOMAIN);
        mac
    }
}

impl std::fmt::Debug for FeedbackKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FeedbackKey(…)")
    }
}

/// Which link a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinkKind {
    /// The one-click unsubscribe link (`List-Unsubscribe`).
    #[serde(rename = "u")]
    Unsubscribe,
    /// The tracking pixel.
    #[serde(rename = "o")]
    Open,
    /// A link of the HTML part, redirected.
    #[serde(rename = "c")]
    Click,
}

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkClaims {
    /// Which link.
    pub kind: LinkKind,
    /// The tenant.
    pub tenant: String,
    /// The recipient's customer (profile) id.
    pub customer: String,
    /// The campaign id.
    pub campaign: String,
    /// The message's Message-ID.
    pub message_id: String,
    /// Where a click goes.
    pub target: Option<String>,
}

/// A token that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token at all: wrong shape, too long, not base64url, not the
    /// payload's encoding.
    #[error("not a link token")]
    Malformed,
    /// The MAC does not match: forged, altered, or another tenant's key.
    #[error("the link's signature does not match")]
    BadSignature,
}

impl LinkClaims {
    /// The signed token of these claims.
    pub fn sign(&self, key: &FeedbackKey) -> String {
        let payload = rmp_serde::to_vec(self).expect("claims serialize");
        let mut mac = key.mac();
        mac.update(&payload);
        let tag = mac.finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(&tag[..MAC_BYTES])
        )
    }
}

/// A token read but not yet verified: only good for finding which
/// tenant's key to verify it with.
#[derive(Debug)]
pub struct UnverifiedToken {
    payload: Vec<u8>,
    tag: Vec<u8>,
    claims: LinkClaims,
}

impl UnverifiedToken {
    /// Reads `token` without trusting it.
    pub fn parse(token: &str) -> Result<Self, TokenError> {
        if token.len() > MAX_TOKEN_CHARS {
            return Err(TokenError::Malformed);
        }
        let (payload, tag) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| TokenError::Malformed)?;
        if tag.len() != MAC_BYTES {
            return Err(TokenError::Malformed);
        }
        let claims = rmp_serde::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
        Ok(UnverifiedToken {
            payload,
            tag,
            claims,
        })
    }

    /// The tenant the token claims to be from (unverified).
    pub fn tenant(&self) -> &str {
        &self.claims.tenant
    }

    /// The claims, if the MAC matches under `key` (compared in constant
    /// time).
    pub fn verify(self, key: &FeedbackKey) -> Result<LinkClaims, TokenError> {
        let mut mac = key.mac();
        mac.update(&self.payload);
        mac.verify_truncated_left(&self.tag)
            .map_err(|_| TokenError::BadSignature)?;
        Ok(self.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> LinkClaims {
        LinkClaims {
            kind: LinkKind::Click,
            tenant: "acme".into(),
            customer: "c-1".into(),
            campaign: "autumn".into(),
            message_id: "<0123.autumn@acme.example>".into(),
            target: Some("https://acme.example/shoes?size=42".into()),
        }
    }

    fn key(byte: u8) -> FeedbackKey {
        FeedbackKey::from_bytes([byte; 32])
    }

    #[test]
    fn a_signed_token_verifies_under_its_key_only() {
        let token = claims().sign(&key(7));
        let read = UnverifiedToken::parse(&token).unwrap();
        assert_eq!(read.tenant(), "acme");
        assert_eq!(read.verify(&key(7)).unwrap(), claims());
        let read = UnverifiedToken::parse(&token).unwrap();
        assert_eq!(read.verify(&key(8)), Err(TokenError::BadSignature));
    }

    #[test]
    fn the_token_is_pinned() {
        // HMAC-SHA256 with key 32 × 0x07 over the tag and this payload:
        // a change of format or algorithm shows here first.
        let token = LinkClaims {
            kind: LinkKind::Unsubscribe,
            tenant: "t".into(),
            customer: "c".into(),
            campaign: "k".into(),
            message_id: "m".into(),
            target: None,
        }
        .sign(&key(7));
        let (payload, tag) = token.split_once('.').unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD.decode(payload).unwrap(),
            b"\x96\xa1u\xa1t\xa1c\xa1k\xa1m\xc0"
        );
        assert_eq!(tag.len(), 22);
        let mut mac = Hmac::<Sha256>::new_from_slice(&[7; 32]).unwrap();
        mac.update(b"mailrules-feedback-link-v1\0\x96\xa1u\xa1t\xa1c\xa1k\xa1m\xc0");
        let expected = mac.finalize().into_bytes();
        assert_eq!(URL_SAFE_NO_PAD.decode(tag).unwrap(), &expected[..16]);
    }

    #[test]
    fn any_changed_claim_breaks_the_signature() {
        let token = claims().sign(&key(1));
        let (_, tag) = token.split_once('.').unwrap();
        let changes: [fn(&mut LinkClaims); 6] = [
            |c| c.kind = LinkKind::Unsubscribe,
            |c| c.tenant = "other".into(),
            |c| c.customer = "c-2".into(),
            |c| c.campaign = "winter".into(),
            |c| c.message_id = "<9.autumn@acme.example>".into(),
            |c| c.target = Some("https://evil.example/".into()),
        ];
        for change in changes {
            let mut forged = claims();
            change(&mut forged);
            let payload = URL_SAFE_NO_PAD.encode(rmp_serde::to_vec(&forged).unwrap());
            let read = UnverifiedToken::parse(&format!("{payload}.{tag}")).unwrap();
            assert_eq!(read.verify(&key(1)), Err(TokenError::BadSignature));
        }
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        let long = "a".repeat(MAX_TOKEN_CHARS + 1);
        for token in [
            "",
            ".",
            "abc",
            "abc.def",
            "!!!.AAAAAAAAAAAAAAAAAAAAAA",
            "AAAA.AAAAAAAAAAAAAAAAAAAAAA",
            long.as_str(),
        ] {
            assert_eq!(
                UnverifiedToken::parse(token).map(|_| ()),
                Err(TokenError::Malformed),
                "{token:?}"
            );
        }
        // A real payload with a short tag.
        let token = claims().sign(&key(1));
        let (payload, tag) = token.split_once('.').unwrap();
        assert_eq!(
            UnverifiedToken::parse(&format!("{payload}.{}", &tag[..10])).map(|_| ()),
            Err(TokenError::Malformed)
        );
    }
}
