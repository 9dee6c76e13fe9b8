//! Delivery into a directory of `.eml` files, one per message.

use std::path::PathBuf;

use super::{DeliveryError, Transport, io_error, stable_name, write_durably};
use crate::render::RenderedMessage;

/// Writes `<hash of Message-ID>.eml` files, durably.
pub struct EmlDirTransport {
    dir: PathBuf,
}

impl EmlDirTransport {
    /// A directory at `dir`, created if missing.
    pub fn create(dir: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(EmlDirTransport { dir })
    }
}

impl Transport for EmlDirTransport {
    fn deliver(&self, message: &RenderedMessage) -> Result<String, DeliveryError> {
        let name = stable_name(&message.message_id);
        let target = self.dir.join(format!("{name}.eml"));
        let tmp = self.dir.join(format!(".{name}.{}.tmp", std::process::id()));
        write_durably(&tmp, &target, &message.bytes).map_err(|e| io_error("eml", e))?;
        Ok(format!("wrote {}", target.display()))
    }

    fn describe(&self) -> String {
        format!("eml directory {}", self.dir.display())
    }
}
