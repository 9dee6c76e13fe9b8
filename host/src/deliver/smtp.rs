//! Delivery to an SMTP relay, one envelope per recipient, over pooled
//! connections. A plain `smtp://host:port` relay (the usual hop to a local
//! MTA) uses mailrules' own pipelining client ([`super::smtp_client`]);
//! STARTTLS, implicit TLS and AUTH go through lettre.

use std::sync::Mutex;
use std::time::Duration;

use lettre::Address;
use lettre::Transport as _;
use lettre::address::Envelope;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::{PoolConfig, SmtpTransport};

use super::smtp_client::Connection;
use super::{DeliveryError, Severity, Transport, refuses_the_sender};
use crate::render::RenderedMessage;

/// A relay given as a URL: `smtp://host:25` (plain, or STARTTLS with
/// `?tls=required` / `?tls=opportunistic`), `smtps://host:465` (implicit
/// TLS), with `user:password@` for AUTH.
pub struct SmtpRelay {
    client: Client,
    url: String,
}

enum Client {
    /// mailrules' client, for plain-text relays.
    Plain(PlainPool),
    /// lettre, for TLS and AUTH.
    Lettre(SmtpTransport),
}

/// Idle connections are dropped after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Open connections to a plain relay, shared by the delivery threads.
struct PlainPool {
    address: String,
    hello_name: String,
    timeout: Duration,
    idle: Mutex<Vec<Connection>>,
    max_idle: usize,
}

impl PlainPool {
    fn take(&self) -> Option<Connection> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(connection) = idle.pop() {
            if connection.last_used.elapsed() < IDLE_TIMEOUT {
                return Some(connection);
            }
        }
        None
    }

    fn give_back(&self, connection: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.max_idle {
            idle.push(connection);
        } else {
            drop(idle);
            connection.quit();
        }
    }

    fn open(&self) -> Result<Connection, DeliveryError> {
        Connection::open(&self.address, &self.hello_name, self.timeout)
    }

    fn send(&self, from: &str, to: &str, bytes: &[u8]) -> Result<String, DeliveryError> {
        let (mut connection, pooled) = match self.take() {
            Some(connection) => (connection, true),
            None => (self.open()?, false),
        };
        let mut result = connection.send(from, to, bytes);
        if let Err(failed) = &result
            && pooled
            && failed.before_any_reply
        {
            // The relay closed the idle connection: once more on a new one.
            connection = self.open()?;
            result = connection.send(from, to, bytes);
        }
        match result {
            Ok(reply) => {
                self.give_back(connection);
                Ok(reply.to_string())
            }
            Err(failed) => {
                if failed.reusable {
                    self.give_back(connection);
                }
                Err(failed.error)
            }
        }
    }
}

impl Drop for PlainPool {
    fn drop(&mut self) {
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(|e| e.into_inner()));
        for connection in idle {
            connection.quit();
        }
    }
}

/// `host:port` of a plain `smtp://` URL without credentials or options,
/// which the pipelining client serves; `None` for anything else.
fn plain_address(url: &str) -> Option<String> {
    let rest = url.strip_prefix("smtp://")?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() || rest.contains(['@', '?', '/', '#']) {
        return None;
    }
    if rest.starts_with('[') {
        // [v6]:port or [v6]
        return Some(if rest.ends_with(']') {
            format!("{rest}:25")
        } else {
            rest.to_string()
        });
    }
    match rest.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
            Some(rest.to_string())
        }
        Some(_) => None,
        None => Some(format!("{rest}:25")),
    }
}

impl SmtpRelay {
    /// Connects lazily to the relay at `url`, keeping up to `connections`
    /// connections open.
    pub fn new(url: &str, connections: u32, timeout: Duration) -> Result<Self, String> {
        Self::build(url, connections, timeout, None)
    }

    /// Like [`SmtpRelay::new`], for a TLS relay (`smtps://…` or
    /// `smtp://…?tls=required|opportunistic`) whose certificate is signed by
    /// a certificate authority in `ca_pem` (PEM, one or more certificates),
    /// trusted in addition to the built-in web roots: a private relay with
    /// an internal CA.
    pub fn with_trusted_ca(
        url: &str,
        connections: u32,
        timeout: Duration,
        ca_pem: &[u8],
    ) -> Result<Self, String> {
        Self::build(url, connections, timeout, Some(ca_pem))
    }

    fn build(
        url: &str,
        connections: u32,
        timeout: Duration,
        ca_pem: Option<&[u8]>,
    ) -> Result<Self, String> {
        let tls = match ca_pem {
            Some(pem) => Some(tls_trusting(url, pem)?),
            None => None,
        };
        if let (None, Some(address)) = (&tls, plain_address(url)) {
            return Ok(SmtpRelay {
                client: Client::Plain(PlainPool {
                    address,
                    hello_name: ClientId::default().to_string(),
                    timeout,
                    idle: Mutex::new(Vec::new()),
                    max_idle: connections.max(1) as usize,
                }),
                url: url.to_string(),
            });
        }
        let mut builder =
            SmtpTransport::from_url(url).map_err(|e| format!("relay `{}`: {e}", redact(url)))?;
        if let Some(tls) = tls {
            builder = builder.tls(tls);
        }
        let transport = builder
            .timeout(Some(timeout))
            .pool_config(
                PoolConfig::new()
                    .max_size(connections.max(1))
                    .idle_timeout(Duration::from_secs(30)),
            )
            .build();
        Ok(SmtpRelay {
            client: Client::Lettre(transport),
            url: redact(url),
        })
    }
}

/// The relay URL's TLS mode, with `ca_pem` as an extra trusted root.
fn tls_trusting(url: &str, ca_pem: &[u8]) -> Result<Tls, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("relay `{}`: {e}", redact(url)))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| format!("relay `{}`: no host", redact(url)))?;
    // A `[v6]` host verifies against the address inside the brackets.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let certificate = Certificate::from_pem(ca_pem).map_err(|e| format!("CA certificate: {e}"))?;
    let parameters = TlsParameters::builder(host.to_owned())
        .add_root_certificate(certificate)
        .build()
        .map_err(|e| format!("relay `{}`: TLS set-up: {e}", redact(url)))?;
    let mode = parsed
        .query_pairs()
        .find(|(key, _)| key == "tls")
        .map(|(_, value)| value.into_owned());
    match (parsed.scheme(), mode.as_deref()) {
        ("smtps", _) => Ok(Tls::Wrapper(parameters)),
        ("smtp", Some("required")) => Ok(Tls::Required(parameters)),
        ("smtp", Some("opportunistic")) => Ok(Tls::Opportunistic(parameters)),
        _ => Err(format!(
            "relay `{}` does not use TLS, so a CA certificate to trust makes no sense: use smtps://… or smtp://…?tls=required",
            redact(url)
        )),
    }
}

fn send_with_lettre(
    transport: &SmtpTransport,
    from: Address,
    to: Address,
    bytes: &[u8],
) -> Result<String, DeliveryError> {
    let envelope = Envelope::new(Some(from), vec![to])
        .map_err(|e| DeliveryError::permanent(format!("envelope: {e}")))?;
    match transport.send_raw(&envelope, bytes) {
        Ok(response) => Ok(format!(
            "{} {}",
            response.code(),
            response.message().collect::<Vec<_>>().join(" ")
        )),
        Err(error) => {
            let code = error.status().map(u16::from);
            // lettre refuses, before any command, an envelope with an
            // address that is not ASCII when the relay lacks SMTPUTF8: this
            // recipient cannot be served by this relay.
            let non_ascii = !(envelope.from().is_none_or(|a| a.to_string().is_ascii())
                && envelope.to().iter().all(|a| a.to_string().is_ascii()));
            if error.is_client() && non_ascii {
                return Err(DeliveryError::permanent(format!(
                    "an address is not ASCII and the relay does not offer SMTPUTF8 (RFC 6531): {error}"
                )));
            }
            let severity = if code.is_some_and(refuses_the_sender) {
                Severity::Refused
            } else if error.is_permanent() {
                Severity::Permanent
            } else {
                Severity::Transient
            };
            Err(DeliveryError {
                severity,
                code,
                message: error.to_string(),
            })
        }
    }
}

/// `address` if it can go into `MAIL FROM:<…>` / `RCPT TO:<…>` as it is:
/// one `@` inside, no brackets, spaces or control characters. (Rendered
/// messages carry addresses lettre has already validated; this guards the
/// command line against anything else.)
fn envelope_address<'a>(address: &'a str, role: &str) -> Result<&'a str, DeliveryError> {
    let well_formed = address.contains('@')
        && !address.starts_with('@')
        && !address.ends_with('@')
        && !address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>');
    if well_formed {
        Ok(address)
    } else {
        Err(DeliveryError::permanent(format!(
            "{role}: `{}` is not an address",
            address.escape_debug()
        )))
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
        match &self.client {
            Client::Plain(pool) => pool.send(
                envelope_address(&message.envelope_from, "sender")?,
                envelope_address(&message.envelope_to, "recipient")?,
                &message.bytes,
            ),
            Client::Lettre(transport) => {
                let from: Address = message
                    .envelope_from
                    .parse()
                    .map_err(|e| DeliveryError::permanent(format!("sender: {e}")))?;
                let to: Address = message
                    .envelope_to
                    .parse()
                    .map_err(|e| DeliveryError::permanent(format!("recipient: {e}")))?;
                send_with_lettre(transport, from, to, &message.bytes)
            }
        }
    }

    fn describe(&self) -> String {
        let client = match self.client {
            Client::Plain(_) => "pipelining client",
            Client::Lettre(_) => "lettre",
        };
        format!("smtp relay {} ({client})", self.url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_relays_are_recognized_and_everything_else_left_to_lettre() {
        assert_eq!(
            plain_address("smtp://127.0.0.1:2525").as_deref(),
            Some("127.0.0.1:2525")
        );
        assert_eq!(
            plain_address("smtp://mx.example").as_deref(),
            Some("mx.example:25")
        );
        assert_eq!(plain_address("smtp://[::1]").as_deref(), Some("[::1]:25"));
        assert_eq!(plain_address("smtp://mx.example:25?tls=required"), None);
        assert_eq!(plain_address("smtp://user:pw@mx.example:587"), None);
        assert_eq!(plain_address("smtps://mx.example"), None);
        assert_eq!(plain_address("smtp://mx.example:port"), None);
    }

    #[test]
    fn envelope_addresses_cannot_inject_commands() {
        assert_eq!(envelope_address("a@b.test", "recipient"), Ok("a@b.test"));
        for bad in [
            "a@b.test>\r\nRCPT TO:<x@y.test",
            "a b@c.test",
            "nobody",
            "@b.test",
            "a@",
        ] {
            let error = envelope_address(bad, "recipient").unwrap_err();
            assert!(error.is_permanent(), "{bad}");
            assert!(
                error.message.starts_with("recipient: "),
                "{}",
                error.message
            );
        }
    }

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            redact("smtp://user:secret@mx.example:587"),
            "smtp://user:***@mx.example:587"
        );
        assert_eq!(redact("smtp://mx.example:25"), "smtp://mx.example:25");
    }
}
