//! Delivery to an SMTP relay with lettre: pooled connections, STARTTLS or
//! implicit TLS, AUTH, one envelope per recipient.

use std::time::Duration;

use lettre::Transport as _;
use lettre::address::Envelope;
use lettre::transport::smtp::{PoolConfig, SmtpTransport};

use super::{DeliveryError, Severity, Transport};
use crate::render::RenderedMessage;

/// A relay given as a URL: `smtp://host:25` (plain, or STARTTLS with
/// `?tls=required` / `?tls=opportunistic`), `smtps://host:465` (implicit
/// TLS), with `user:password@` for AUTH.
pub struct SmtpRelay {
    transport: SmtpTransport,
    url: String,
}

impl SmtpRelay {
    /// Connects lazily to the relay at `url`, keeping up to `connections`
    /// connections open.
    pub fn new(url: &str, connections: u32, timeout: Duration) -> Result<Self, String> {
        let transport = SmtpTransport::from_url(url)
            .map_err(|e| format!("relay `{}`: {e}", redact(url)))?
            .timeout(Some(timeout))
            .pool_config(
                PoolConfig::new()
                    .max_size(connections.max(1))
                    .idle_timeout(Duration::from_secs(30)),
            )
            .build();
        Ok(SmtpRelay {
            transport,
            url: redact(url),
        })
    }
}

/// The URL without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user_end = url[scheme + 3..at].find(':').map_or(at, |c| scheme + 3 + c);
            format!("{}:***{}", &url[..user_end], &url[at..])
        }
        _ => url.to_string(),
    }
}

impl Transport for SmtpRelay {
    fn deliver(&self, message: &RenderedMessage) -> Result<String, DeliveryError> {
        let envelope = Envelope::new(
            Some(
                message
                    .envelope_from
                    .parse()
                    .map_err(|e| DeliveryError::permanent(format!("sender: {e}")))?,
            ),
            vec![
                message
                    .envelope_to
                    .parse()
                    .map_err(|e| DeliveryError::permanent(format!("recipient: {e}")))?,
            ],
        )
        .map_err(|e| DeliveryError::permanent(format!("envelope: {e}")))?;
        match self.transport.send_raw(&envelope, &message.bytes) {
            Ok(response) => Ok(format!(
                "{} {}",
                response.code(),
                response.message().collect::<Vec<_>>().join(" ")
            )),
            Err(error) => {
                let severity = if error.is_permanent() {
                    Severity::Permanent
                } else {
                    Severity::Transient
                };
                let code = error.status().map(u16::from);
                Err(DeliveryError {
                    severity,
                    code,
                    message: error.to_string(),
                })
            }
        }
    }

    fn describe(&self) -> String {
        format!("smtp relay {}", self.url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            redact("smtp://user:secret@mx.example:587"),
            "smtp://user:***@mx.example:587"
        );
        assert_eq!(redact("smtp://mx.example:25"), "smtp://mx.example:25");
    }
}
