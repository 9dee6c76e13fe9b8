//! Delivery into a local Maildir (`tmp/`, `new/`, `cur/`): the embedded
//! default when no relay is configured.

use std::path::PathBuf;

use super::{DeliveryError, Transport, io_error, stable_name, write_durably};
use crate::render::RenderedMessage;

/// Writes each message to `tmp/`, syncs it, and renames it into `new/`.
/// The file name comes from the Message-ID, so the same message is stored
/// at most once however often it is delivered.
pub struct MaildirTransport {
    root: PathBuf,
}

impl MaildirTransport {
    /// A Maildir at `root`, created if missing.
    pub fn create(root: PathBuf) -> std::io::Result<Self> {
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(root.join(sub))?;
        }
        Ok(MaildirTransport { root })
    }
}

impl Transport for MaildirTransport {
    fn deliver(&self, message: &RenderedMessage) -> Result<String, DeliveryError> {
        let name = format!("{}.mailrules", stable_name(&message.message_id));
        let target = self.root.join("new").join(&name);
        if target.exists() || self.root.join("cur").join(format!("{name}:2,")).exists() {
            return Ok(format!("already in {}", target.display()));
        }
        let tmp = self
            .root
            .join("tmp")
            .join(format!("{name}.{}", std::process::id()));
        write_durably(&tmp, &target, &message.bytes).map_err(|e| io_error("maildir", e))?;
        Ok(format!("stored {}", target.display()))
    }

    fn describe(&self) -> String {
        format!("maildir {}", self.root.display())
    }
}
