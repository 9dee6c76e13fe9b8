//! Tenant-specific custom attributes, which travel as one MessagePack map.

use serde::de::DeserializeOwned;

use crate::{ErrorCode, RuleError};

/// Decodes a profile's custom attributes (the bytes of
/// `profile.attributes()`) into the rule's own type.
///
/// Fields the type does not name are ignored; a missing field is an error
/// unless the type gives it a `#[serde(default)]`. A failure becomes a
/// [`RuleError`] with code [`ErrorCode::InvalidAttributes`], so the host gives
/// the recipient the campaign's fallback and records why.
pub fn decode_attributes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, RuleError> {
    rmp_serde::from_slice(bytes).map_err(|error| RuleError {
        code: ErrorCode::InvalidAttributes,
        message: format!("custom attributes: {error}"),
    })
}
