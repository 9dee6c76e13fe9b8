//! Optional DKIM signing (lettre's signer), with a key from a file. The
//! signature covers From, To, Subject, Date, Message-ID, both
//! List-Unsubscribe headers and Feedback-ID, relaxed/relaxed.

use std::path::PathBuf;

use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
    DkimSigningKey,
};
use lettre::message::header::HeaderName;

/// Where the key is and what to sign as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimSettings {
    /// PEM RSA key (PKCS#1, `BEGIN RSA PRIVATE KEY`) or a base64 Ed25519 seed.
    pub key_file: PathBuf,
    /// The selector (`s=`).
    pub selector: String,
    /// The signing domain (`d=`).
    pub domain: String,
}

/// The key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DkimError {
    /// Unreadable file.
    #[error("{}: cannot read DKIM key: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not a key lettre can sign with.
    #[error("{}: not an RSA PKCS#1 PEM or base64 Ed25519 key: {message}", path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// Headers in `h=`.
pub const SIGNED_HEADERS: [&str; 8] = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Feedback-ID",
];

impl DkimSettings {
    /// The signer configuration.
    pub fn config(&self) -> Result<DkimConfig, DkimError> {
        let text = std::fs::read_to_string(&self.key_file).map_err(|source| DkimError::Read {
            path: self.key_file.clone(),
            source,
        })?;
        let algorithm = if text.contains("BEGIN RSA PRIVATE KEY") {
            DkimSigningAlgorithm::Rsa
        } else {
            DkimSigningAlgorithm::Ed25519
        };
        let key = DkimSigningKey::new(text.trim(), algorithm).map_err(|e| DkimError::Key {
            path: self.key_file.clone(),
            message: e.to_string(),
        })?;
        let headers = SIGNED_HEADERS
            .iter()
            .map(|name| HeaderName::new_from_ascii_str(name))
            .collect();
        Ok(DkimConfig::new(
            self.selector.clone(),
            self.domain.clone(),
            key,
            headers,
            DkimCanonicalization {
                header: DkimCanonicalizationType::Relaxed,
                body: DkimCanonicalizationType::Relaxed,
            },
        ))
    }
}
