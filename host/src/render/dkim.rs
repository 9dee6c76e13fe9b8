//! Optional DKIM signing (lettre's signer), with a key from a file. The
//! signature covers From, To, Subject, Date, Message-ID, both
//! List-Unsubscribe headers and Feedback-ID, relaxed/relaxed.
//!
//! Keys are read in the formats OpenSSL writes: an RSA key as PKCS#1 PEM
//! (`BEGIN RSA PRIVATE KEY`, `openssl genrsa -traditional`) or PKCS#8 PEM
//! (`BEGIN PRIVATE KEY`, `openssl genpkey -algorithm RSA`), an Ed25519 key
//! as PKCS#8 PEM (`openssl genpkey -algorithm ed25519`) or as the base64 of
//! its 32-byte seed.

use std::path::PathBuf;

use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
    DkimSigningKey,
};
use lettre::message::header::HeaderName;

/// Where the key is and what to sign as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimSettings {
    /// The private key: RSA (PKCS#1 or PKCS#8 PEM) or Ed25519 (PKCS#8 PEM
    /// or a base64 seed).
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
    #[error("{}: cannot read the DKIM key (--dkim-key): {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not a key mailrules can sign with.
    #[error(
        "{}: not a usable DKIM key (--dkim-key; RSA as PKCS#1 or PKCS#8 PEM, Ed25519 as PKCS#8 PEM or a base64 seed): {message}",
        path.display()
    )]
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
        let key = signing_key(&text).map_err(|message| DkimError::Key {
            path: self.key_file.clone(),
            message,
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

/// The key in `text`, in any of the formats the module documentation lists.
fn signing_key(text: &str) -> Result<DkimSigningKey, String> {
    use base64::Engine as _;
    use rsa::pkcs1::{EncodeRsaPrivateKey, LineEnding};
    use rsa::pkcs8::DecodePrivateKey;

    let text = text.trim();
    let lettre_key =
        |key: &str, algorithm| DkimSigningKey::new(key, algorithm).map_err(|e| e.to_string());
    if text.contains("BEGIN ENCRYPTED PRIVATE KEY") {
        return Err(
            "the key is encrypted: write it unencrypted (`openssl pkey -in KEY -out PLAIN`)".into(),
        );
    }
    if text.contains("BEGIN RSA PRIVATE KEY") {
        return lettre_key(text, DkimSigningAlgorithm::Rsa);
    }
    if text.contains("BEGIN PRIVATE KEY") {
        if let Ok(rsa) = rsa::RsaPrivateKey::from_pkcs8_pem(text) {
            let pkcs1 = rsa
                .to_pkcs1_pem(LineEnding::LF)
                .map_err(|e| format!("RSA key: {e}"))?;
            return lettre_key(&pkcs1, DkimSigningAlgorithm::Rsa);
        }
        return match ed25519_dalek::SigningKey::from_pkcs8_pem(text) {
            Ok(ed25519) => {
                let seed = base64::engine::general_purpose::STANDARD.encode(ed25519.to_bytes());
                lettre_key(&seed, DkimSigningAlgorithm::Ed25519)
            }
            Err(e) => Err(format!(
                "a PKCS#8 key that is neither RSA nor Ed25519, or damaged: {e}"
            )),
        };
    }
    if text.starts_with("-----BEGIN") {
        let label = text.lines().next().unwrap_or_default();
        return Err(format!("unsupported PEM block `{label}`"));
    }
    lettre_key(text, DkimSigningAlgorithm::Ed25519)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn openssl(args: &[&str]) -> Vec<u8> {
        let output = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    fn settings(dir: &std::path::Path, name: &str, pem: &[u8]) -> DkimSettings {
        let key_file = dir.join(name);
        std::fs::write(&key_file, pem).unwrap();
        DkimSettings {
            key_file,
            selector: "s1".into(),
            domain: "example.com".into(),
        }
    }

    #[test]
    fn openssl_keys_in_pkcs1_and_pkcs8_are_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let pkcs8_rsa = openssl(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ]);
        assert!(String::from_utf8_lossy(&pkcs8_rsa).contains("BEGIN PRIVATE KEY"));
        let pkcs8_ed25519 = openssl(&["genpkey", "-algorithm", "ed25519"]);
        assert!(String::from_utf8_lossy(&pkcs8_ed25519).contains("BEGIN PRIVATE KEY"));
        let pkcs1_rsa = openssl(&["genrsa", "-traditional", "2048"]);
        for (name, pem) in [
            ("rsa8.pem", pkcs8_rsa),
            ("ed8.pem", pkcs8_ed25519),
            ("rsa1.pem", pkcs1_rsa),
        ] {
            let settings = settings(dir.path(), name, &pem);
            if let Err(e) = settings.config() {
                panic!("{name}: {e}");
            }
        }
    }

    #[test]
    fn a_bad_key_is_reported_against_the_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let bad = settings(
            dir.path(),
            "bad.pem",
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        );
        let message = bad.config().unwrap_err().to_string();
        assert!(
            message.starts_with(&format!(
                "{}: not a usable DKIM key (--dkim-key;",
                bad.key_file.display()
            )),
            "{message}"
        );
        let missing = DkimSettings {
            key_file: dir.path().join("missing.pem"),
            ..bad
        };
        let message = missing.config().unwrap_err().to_string();
        assert!(
            message.starts_with(&format!(
                "{}: cannot read the DKIM key (--dkim-key):",
                missing.key_file.display()
            )),
            "{message}"
        );
    }
}
