//! Delivery: one [`Transport`] trait, with SMTP (a relay), a Maildir (the
//! embedded default) and a directory of `.eml` files behind it. Errors say
//! whether trying again may help ([`DeliveryError::is_transient`]).

mod eml_dir;
mod maildir;
mod smtp;
pub mod smtp_client;

pub use eml_dir::EmlDirTransport;
pub use maildir::MaildirTransport;
pub use smtp::SmtpRelay;

use crate::render::RenderedMessage;

/// Hands rendered messages on. Implementations are shared by the delivery
/// threads.
pub trait Transport: Send + Sync {
    /// Delivers one message; `Ok` carries the server's (or store's) reply.
    fn deliver(&self, message: &RenderedMessage) -> Result<String, DeliveryError>;

    /// What this transport delivers to, for logs and the journal.
    fn describe(&self) -> String;
}

/// Whether a failure may go away by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// 4xx replies, dropped connections, timeouts, full disks: try again.
    Transient,
    /// 5xx replies, invalid addresses: trying again will not help.
    Permanent,
    /// The relay refused the sender itself (authentication required or
    /// failed): no recipient can be served until its configuration is
    /// fixed, so sending stops and the recipients stay deferred.
    Refused,
    /// The whole message was sent but no reply came (a timeout, a dropped
    /// connection): the relay may have accepted it. Trying again in the
    /// same run could send it twice, so it is not retried; the recipient
    /// stays deferred for the next run (same Message-ID).
    OutcomeUnknown,
}

/// A failed delivery.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    /// Transient or permanent.
    pub severity: Severity,
    /// The SMTP reply code, when there was one.
    pub code: Option<u16>,
    /// The server's reply or the local error.
    pub message: String,
}

impl DeliveryError {
    /// A failure that may go away by itself.
    pub fn transient(message: impl Into<String>) -> Self {
        DeliveryError {
            severity: Severity::Transient,
            code: None,
            message: message.into(),
        }
    }

    /// A failure that will not.
    pub fn permanent(message: impl Into<String>) -> Self {
        DeliveryError {
            severity: Severity::Permanent,
            code: None,
            message: message.into(),
        }
    }

    /// The relay refused the sender, not this recipient.
    pub fn refused(code: Option<u16>, message: impl Into<String>) -> Self {
        DeliveryError {
            severity: Severity::Refused,
            code,
            message: message.into(),
        }
    }

    /// The message was sent but whether the relay took it is unknown.
    pub fn outcome_unknown(message: impl Into<String>) -> Self {
        DeliveryError {
            severity: Severity::OutcomeUnknown,
            code: None,
            message: message.into(),
        }
    }

    /// Whether trying again may help.
    pub fn is_transient(&self) -> bool {
        self.severity == Severity::Transient
    }

    /// Whether trying again will not help.
    pub fn is_permanent(&self) -> bool {
        self.severity == Severity::Permanent
    }
}

/// SMTP replies about the client's authentication (RFC 4954): 530
/// required, 534 mechanism too weak, 535 credentials invalid, 538
/// encryption required. They concern every recipient alike.
pub(crate) fn refuses_the_sender(code: u16) -> bool {
    matches!(code, 530 | 534 | 535 | 538)
}

/// A file name derived from the Message-ID: the same message always lands
/// under the same name, so a resumed run cannot store it twice.
pub(crate) fn stable_name(message_id: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(message_id.as_bytes())[..16])
}

/// Writes `bytes` to `dir/tmp/name`, syncs it, and moves it to `final_path`.
pub(crate) fn write_durably(
    tmp: &std::path::Path,
    final_path: &std::path::Path,
    bytes: &[u8],
) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::File::create(tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(tmp, final_path)?;
    if let Some(dir) = final_path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn io_error(what: &str, error: std::io::Error) -> DeliveryError {
    use std::io::ErrorKind::*;
    let message = format!("{what}: {error}");
    match error.kind() {
        PermissionDenied | InvalidInput | InvalidData | Unsupported => {
            DeliveryError::permanent(message)
        }
        _ => DeliveryError::transient(message),
    }
}
