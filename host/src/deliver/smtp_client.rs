//! One SMTP connection to a plain-text relay (RFC 5321), written for
//! throughput: Nagle's algorithm off, the envelope sent as one pipelined
//! write when the server offers PIPELINING (RFC 2920), and the message and
//! its end-of-data mark in one write. A client that writes the final
//! `<CRLF>.<CRLF>` separately from the message (as lettre does, without
//! `TCP_NODELAY`) waits for the server's delayed acknowledgement — 40 ms on
//! Linux — once per message.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::{DeliveryError, Severity};

/// Longest reply accepted, all lines together.
const MAX_REPLY_BYTES: usize = 64 << 10;

/// An SMTP reply: the code and the text of every line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// The text of each line, without the code.
    pub lines: Vec<String>,
}

impl Reply {
    fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }

    /// The reply as an error (authentication replies refuse the sender, 4xx
    /// transient, everything else permanent).
    fn error(&self, during: &str) -> DeliveryError {
        let severity = if super::refuses_the_sender(self.code) {
            Severity::Refused
        } else if (400..500).contains(&self.code) {
            Severity::Transient
        } else {
            Severity::Permanent
        };
        DeliveryError {
            severity,
            code: Some(self.code),
            message: format!("{during}: {self}"),
        }
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.lines.join(" "))
    }
}

/// The first refusal among the envelope replies (to MAIL FROM, RCPT TO and
/// DATA, in that order), as an error.
fn refusal(replies: &[Reply]) -> Option<DeliveryError> {
    replies
        .iter()
        .zip(["MAIL FROM", "RCPT TO", "DATA"])
        .find(|(reply, _)| !reply.is_positive())
        .map(|(reply, during)| reply.error(during))
}

/// Why a transaction failed, and whether the connection can be used again.
#[derive(Debug)]
pub struct Failed {
    /// The delivery error.
    pub error: DeliveryError,
    /// False when the connection is broken or in an unknown state.
    pub reusable: bool,
    /// True when nothing reached the server's answer yet (a stale pooled
    /// connection): the same message may be tried on a new connection.
    pub before_any_reply: bool,
}

/// An open, greeted connection.
pub struct Connection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    pipelining: bool,
    eight_bit_mime: bool,
    smtp_utf8: bool,
    /// When the connection last finished a command.
    pub last_used: Instant,
}

fn network(what: &str, error: std::io::Error) -> DeliveryError {
    DeliveryError::transient(format!("{what}: {error}"))
}

impl Connection {
    /// Connects to `address` (`host:port`), reads the greeting and says EHLO
    /// (HELO when EHLO is refused) as `hello_name`.
    pub fn open(address: &str, hello_name: &str, timeout: Duration) -> Result<Self, DeliveryError> {
        let addresses = address
            .to_socket_addrs()
            .map_err(|e| network(&format!("resolving {address}"), e))?;
        let mut last_error = None;
        let mut stream = None;
        for candidate in addresses {
            match TcpStream::connect_timeout(&candidate, timeout) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        let stream = stream.ok_or_else(|| {
            let error = last_error.unwrap_or_else(|| std::io::ErrorKind::NotFound.into());
            network(&format!("connecting to {address}"), error)
        })?;
        let setup = |s: &TcpStream| -> std::io::Result<TcpStream> {
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(timeout))?;
            s.set_write_timeout(Some(timeout))?;
            s.try_clone()
        };
        let writer = setup(&stream).map_err(|e| network("configuring the socket", e))?;
        let mut connection = Connection {
            reader: BufReader::with_capacity(4096, stream),
            writer,
            pipelining: false,
            eight_bit_mime: false,
            smtp_utf8: false,
            last_used: Instant::now(),
        };
        let greeting = connection.read_reply()?;
        if greeting.code != 220 {
            return Err(greeting.error("greeting"));
        }
        connection.write(format!("EHLO {hello_name}\r\n").as_bytes())?;
        let ehlo = connection.read_reply()?;
        if ehlo.code == 421 {
            // Closing the connection: HELO would only meet the hang-up.
            return Err(ehlo.error("EHLO"));
        }
        if ehlo.code == 250 {
            connection.learn_extensions(&ehlo);
        } else {
            connection.write(format!("HELO {hello_name}\r\n").as_bytes())?;
            let helo = connection.read_reply()?;
            if helo.code != 250 {
                return Err(helo.error("HELO"));
            }
        }
        Ok(connection)
    }

    fn learn_extensions(&mut self, ehlo: &Reply) {
        // Each line after the first names an extension, then its parameters.
        for line in ehlo.lines.iter().skip(1) {
            let keyword = line.split(' ').next().unwrap_or_default();
            match keyword.to_ascii_uppercase().as_str() {
                "PIPELINING" => self.pipelining = true,
                "8BITMIME" => self.eight_bit_mime = true,
                "SMTPUTF8" => self.smtp_utf8 = true,
                _ => {}
            }
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), DeliveryError> {
        self.writer
            .write_all(bytes)
            .map_err(|e| network("writing to the relay", e))
    }

    /// Reads one (possibly multi-line) reply.
    pub fn read_reply(&mut self) -> Result<Reply, DeliveryError> {
        let mut lines = Vec::new();
        let mut total = 0;
        let mut line = String::new();
        loop {
            line.clear();
            let read = self
                .reader
                .read_line(&mut line)
                .map_err(|e| network("reading from the relay", e))?;
            if read == 0 {
                return Err(DeliveryError::transient("the relay closed the connection"));
            }
            let trimmed = line.trim_end_matches(['\r', '\n']);
            let code = trimmed
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .filter(|c| (200..600).contains(c))
                .ok_or_else(|| {
                    DeliveryError::transient(format!("malformed reply from the relay: {trimmed:?}"))
                })?;
            total += trimmed.len();
            lines.push(trimmed.get(4..).unwrap_or("").to_string());
            if total > MAX_REPLY_BYTES {
                return Err(DeliveryError::transient("reply from the relay is too long"));
            }
            match trimmed.as_bytes().get(3) {
                Some(b'-') => continue,
                _ => {
                    self.last_used = Instant::now();
                    return Ok(Reply { code, lines });
                }
            }
        }
    }

    /// Sends one message from `from` to `to`. On success, the server's reply
    /// to the end of data.
    pub fn send(&mut self, from: &str, to: &str, message: &[u8]) -> Result<Reply, Failed> {
        let broken = |error: DeliveryError, before_any_reply: bool| Failed {
            error,
            reusable: false,
            before_any_reply,
        };
        let refuse = |message: String| Failed {
            error: DeliveryError::permanent(message),
            reusable: true,
            before_any_reply: false,
        };
        // An address that is not ASCII is the first thing to report: it is
        // why the message itself is not 7-bit (RFC 6532 headers).
        let utf8_addresses = !(from.is_ascii() && to.is_ascii());
        if utf8_addresses && !self.smtp_utf8 {
            let which = if to.is_ascii() {
                format!("sender address `{from}`")
            } else {
                format!("recipient address `{to}`")
            };
            return Err(refuse(format!(
                "{which} is not ASCII and the relay does not offer SMTPUTF8 (RFC 6531)"
            )));
        }
        let mut mail = format!("MAIL FROM:<{from}>");
        if !message.is_ascii() {
            if !self.eight_bit_mime {
                return Err(refuse(
                    "the message is not 7-bit and the relay does not offer 8BITMIME".into(),
                ));
            }
            mail.push_str(" BODY=8BITMIME");
        }
        if utf8_addresses {
            mail.push_str(" SMTPUTF8");
        }
        let commands = [
            format!("{mail}\r\n"),
            format!("RCPT TO:<{to}>\r\n"),
            "DATA\r\n".to_string(),
        ];
        let mut replies = Vec::with_capacity(3);
        if self.pipelining {
            self.write(commands.concat().as_bytes())
                .map_err(|e| broken(e, true))?;
            for _ in 0..3 {
                let first = replies.is_empty();
                match self.read_reply() {
                    Ok(reply) => replies.push(reply),
                    // A server that refused and hung up (421) said why
                    // before it went: that reply, not the hang-up, is the
                    // failure.
                    Err(error) => {
                        return Err(broken(refusal(&replies).unwrap_or(error), first));
                    }
                }
            }
        } else {
            for (i, command) in commands.iter().enumerate() {
                self.write(command.as_bytes())
                    .map_err(|e| broken(e, i == 0))?;
                let reply = self.read_reply().map_err(|e| broken(e, i == 0))?;
                let stop = !reply.is_positive();
                replies.push(reply);
                if stop {
                    break;
                }
            }
        }
        let refused = refusal(&replies);
        let data_accepted = replies.get(2).is_some_and(|r| r.code == 354);
        if let Some(error) = refused {
            if data_accepted {
                // RFC 2920: a server that took DATA after refusing the
                // envelope gets an empty message, which it then refuses.
                if self.write(b".\r\n").is_err() || self.read_reply().is_err() {
                    return Err(broken(error, false));
                }
            }
            let reusable = self.reset();
            return Err(Failed {
                error,
                reusable,
                before_any_reply: false,
            });
        }
        if !data_accepted {
            let reply = &replies[replies.len() - 1];
            return Err(Failed {
                error: reply.error("DATA"),
                reusable: self.reset(),
                before_any_reply: false,
            });
        }
        self.write(&dot_stuffed(message))
            .map_err(|e| broken(e, false))?;
        // The end-of-data mark went out: without an answer, the relay may
        // have queued the message, so this must not be retried blindly.
        let reply = self.read_reply().map_err(|e| {
            broken(
                DeliveryError::outcome_unknown(format!(
                    "no reply after the message was sent ({}): the relay may have accepted it",
                    e.message
                )),
                false,
            )
        })?;
        if reply.code == 250 {
            Ok(reply)
        } else {
            Err(Failed {
                error: reply.error("end of data"),
                reusable: true,
                before_any_reply: false,
            })
        }
    }

    /// RSET: true when the connection is ready for another transaction.
    fn reset(&mut self) -> bool {
        self.write(b"RSET\r\n").is_ok() && self.read_reply().is_ok_and(|r| r.code == 250)
    }

    /// Says QUIT, without waiting long for the answer.
    pub fn quit(mut self) {
        if self.write(b"QUIT\r\n").is_ok() {
            let _ = self
                .reader
                .get_ref()
                .set_read_timeout(Some(Duration::from_millis(100)));
            let _ = self.read_reply();
        }
    }
}

/// The message as DATA content: a `.` doubled at the start of every line,
/// a final line break ensured, and the end-of-data line appended.
pub fn dot_stuffed(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 64 + 8);
    let mut line_start = 0;
    for line_end in memchr::memchr_iter(b'\n', message)
        .map(|newline| newline + 1)
        .chain(std::iter::once(message.len()))
    {
        let line = &message[line_start..line_end];
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
        line_start = line_end;
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_dots_are_doubled_and_the_end_is_marked() {
        assert_eq!(
            dot_stuffed(b"a\r\n.b\r\n..c\r\n"),
            b"a\r\n..b\r\n...c\r\n.\r\n"
        );
        assert_eq!(dot_stuffed(b".x"), b"..x\r\n.\r\n");
        assert_eq!(dot_stuffed(b"a.b\r\n"), b"a.b\r\n.\r\n");
        assert_eq!(dot_stuffed(b""), b"\r\n.\r\n");
        assert_eq!(dot_stuffed(b"a\r\n"), b"a\r\n.\r\n");
        assert_eq!(dot_stuffed(b"a\n.\n"), b"a\n..\n\r\n.\r\n");
    }

    #[test]
    fn replies_classify_by_code() {
        let temporary = Reply {
            code: 451,
            lines: vec!["try later".into()],
        };
        let permanent = Reply {
            code: 550,
            lines: vec!["no such user".into()],
        };
        assert!(temporary.error("RCPT TO").is_transient());
        assert_eq!(temporary.error("RCPT TO").code, Some(451));
        assert!(permanent.error("RCPT TO").is_permanent());
        assert_eq!(
            permanent.error("RCPT TO").message,
            "RCPT TO: 550 no such user"
        );
        let login_required = Reply {
            code: 530,
            lines: vec!["5.7.0 Authentication required".into()],
        };
        assert_eq!(
            login_required.error("MAIL FROM").severity,
            Severity::Refused
        );
    }

    /// A scripted server on loopback: answers each received command line
    /// from `script` and records what it got.
    fn scripted_server(
        script: Vec<(&'static str, &'static str)>,
    ) -> (String, std::thread::JoinHandle<String>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let handle = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut writer = stream.try_clone().unwrap();
            let mut reader = BufReader::new(stream);
            writer.write_all(b"220 test ready\r\n").unwrap();
            let mut seen = String::new();
            let mut in_data = false;
            let mut line = String::new();
            let mut steps = script.into_iter();
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                seen.push_str(&line);
                // Inside DATA only the end-of-data line gets an answer.
                if in_data && line != ".\r\n" {
                    continue;
                }
                let Some((expect, answer)) = steps.next() else {
                    break;
                };
                assert!(line.starts_with(expect), "expected {expect}, got {line:?}");
                in_data = answer.starts_with("354");
                writer.write_all(answer.as_bytes()).unwrap();
            }
            seen
        });
        (address, handle)
    }

    #[test]
    fn no_reply_after_the_message_is_an_unknown_outcome_not_a_retry() {
        // The server takes the whole message, then hangs up without a word.
        let (address, server) = scripted_server(vec![
            ("EHLO", "250-test\r\n250 PIPELINING\r\n"),
            ("MAIL FROM:<a@x.test>", "250 ok\r\n"),
            ("RCPT TO:<b@y.test>", "250 ok\r\n"),
            ("DATA", "354 go\r\n"),
        ]);
        let mut c = Connection::open(&address, "client.test", Duration::from_secs(5)).unwrap();
        let failed = c.send("a@x.test", "b@y.test", b"hi\r\n").unwrap_err();
        assert_eq!(failed.error.severity, Severity::OutcomeUnknown);
        assert!(!failed.error.is_transient(), "not retried in the same run");
        assert!(
            failed
                .error
                .message
                .starts_with("no reply after the message was sent"),
            "{}",
            failed.error.message
        );
        assert!(!failed.reusable && !failed.before_any_reply);
        drop(c);
        server.join().unwrap();
    }

    #[test]
    fn a_pipelining_server_gets_the_envelope_at_once_and_the_message_stuffed() {
        let (address, server) = scripted_server(vec![
            ("EHLO", "250-test\r\n250-PIPELINING\r\n250 8BITMIME\r\n"),
            ("MAIL FROM:<a@x.test>", "250 ok\r\n"),
            ("RCPT TO:<b@y.test>", "250 ok\r\n"),
            ("DATA", "354 go\r\n"),
            (".", "250 2.0.0 queued as 1\r\n"),
            ("QUIT", "221 bye\r\n"),
        ]);
        let mut c = Connection::open(&address, "client.test", Duration::from_secs(5)).unwrap();
        assert!(c.pipelining && c.eight_bit_mime && !c.smtp_utf8);
        let reply = c
            .send("a@x.test", "b@y.test", b"Subject: x\r\n\r\n.hidden\r\n")
            .unwrap();
        assert_eq!(reply.to_string(), "250 2.0.0 queued as 1");
        c.quit();
        let seen = server.join().unwrap();
        assert!(seen.contains("\r\n..hidden\r\n.\r\n"), "{seen}");
    }

    #[test]
    fn a_refused_recipient_is_reported_and_the_connection_reset() {
        let (address, server) = scripted_server(vec![
            ("EHLO", "250-test\r\n250 PIPELINING\r\n"),
            ("MAIL FROM", "250 ok\r\n"),
            ("RCPT TO", "550 5.1.1 no such user\r\n"),
            ("DATA", "554 no valid recipients\r\n"),
            ("RSET", "250 ok\r\n"),
        ]);
        let mut c = Connection::open(&address, "client.test", Duration::from_secs(5)).unwrap();
        let failed = c.send("a@x.test", "b@y.test", b"x\r\n").unwrap_err();
        assert!(failed.error.is_permanent());
        assert_eq!(failed.error.code, Some(550));
        assert!(failed.reusable);
        drop(c);
        server.join().unwrap();
    }

    #[test]
    fn a_421_before_the_server_hangs_up_is_the_reported_failure() {
        // The server answers MAIL FROM with 421 and closes without reading
        // the rest of the pipelined envelope.
        let (address, server) = scripted_server(vec![
            ("EHLO", "250-test\r\n250 PIPELINING\r\n"),
            ("MAIL FROM", "421 4.3.2 Service shutting down, closing\r\n"),
        ]);
        let mut c = Connection::open(&address, "client.test", Duration::from_secs(5)).unwrap();
        let failed = c.send("a@x.test", "b@y.test", b"x\r\n").unwrap_err();
        assert_eq!(
            failed.error.message,
            "MAIL FROM: 421 4.3.2 Service shutting down, closing"
        );
        assert!(failed.error.is_transient());
        assert!(!failed.reusable && !failed.before_any_reply);
        drop(c);
        server.join().unwrap();
        // The same in answer to EHLO.
        let (address, server) = scripted_server(vec![("EHLO", "421 4.7.0 Try again later\r\n")]);
        let error = Connection::open(&address, "client.test", Duration::from_secs(5))
            .err()
            .unwrap();
        assert_eq!(error.message, "EHLO: 421 4.7.0 Try again later");
        server.join().unwrap();
    }

    #[test]
    fn a_non_ascii_recipient_goes_with_smtputf8_or_is_refused_with_the_reason() {
        let (address, server) = scripted_server(vec![
            (
                "EHLO",
                "250-test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
            ),
            ("MAIL FROM:<a@x.test> BODY=8BITMIME SMTPUTF8", "250 ok\r\n"),
            ("RCPT TO:<josé@y.test>", "250 ok\r\n"),
            ("DATA", "354 go\r\n"),
            (".", "250 2.0.0 queued\r\n"),
        ]);
        let mut c = Connection::open(&address, "client.test", Duration::from_secs(5)).unwrap();
        c.send(
            "a@x.test",
            "josé@y.test",
            "To: josé@y.test\r\n\r\nhi\r\n".as_bytes(),
        )
        .unwrap();
        drop(c);
        server.join().unwrap();

        let (address, server) = scripted_server(vec![(
            "EHLO",
            "250-test\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
        )]);
        let mut c = Connection::open(&address, "client.test", Duration::from_secs(5)).unwrap();
        let failed = c
            .send(
                "a@x.test",
                "josé@y.test",
                "To: josé@y.test\r\n\r\nhi\r\n".as_bytes(),
            )
            .unwrap_err();
        assert!(failed.error.is_permanent());
        assert_eq!(
            failed.error.message,
            "recipient address `josé@y.test` is not ASCII and the relay does not offer SMTPUTF8 (RFC 6531)"
        );
        assert!(failed.reusable);
        drop(c);
        let seen = server.join().unwrap();
        assert!(!seen.contains("MAIL FROM"), "{seen}");
    }

    #[test]
    fn a_server_without_pipelining_gets_one_command_at_a_time() {
        let (address, server) = scripted_server(vec![
            ("EHLO", "502 no\r\n"),
            ("HELO", "250 hi\r\n"),
            ("MAIL FROM", "451 4.3.0 busy\r\n"),
            ("RSET", "250 ok\r\n"),
        ]);
        let mut c = Connection::open(&address, "client.test", Duration::from_secs(5)).unwrap();
        let failed = c.send("a@x.test", "b@y.test", b"x\r\n").unwrap_err();
        assert!(failed.error.is_transient());
        assert_eq!(failed.error.code, Some(451));
        drop(c);
        let seen = server.join().unwrap();
        assert!(!seen.contains("RCPT"), "{seen}");
    }
}
