//! A capped, per-evaluation log shared by the `host.log` import and the
//! guest's stdout and stderr.

/// Longest `host.log` message kept, in bytes; longer ones are cut.
pub const MAX_GUEST_LOG_MESSAGE: usize = 1024;

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// Keeps at most `cap` bytes; everything after that is counted and dropped,
/// never an error for the guest (a chatty rule is not a failing rule).
#[derive(Debug, Clone)]
pub struct CappedLog {
    inner: Arc<Mutex<LogBuffer>>,
}

#[derive(Debug)]
struct LogBuffer {
    bytes: Vec<u8>,
    cap: usize,
    dropped: usize,
}

impl CappedLog {
    /// An empty log keeping up to `cap` bytes.
    pub fn new(cap: usize) -> Self {
        CappedLog {
            inner: Arc::new(Mutex::new(LogBuffer {
                bytes: Vec::new(),
                cap,
                dropped: 0,
            })),
        }
    }

    /// Appends bytes, keeping what fits.
    pub fn write(&self, data: &[u8]) {
        let mut buffer = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let room = buffer.cap.saturating_sub(buffer.bytes.len());
        let kept = room.min(data.len());
        buffer.bytes.extend_from_slice(&data[..kept]);
        buffer.dropped += data.len() - kept;
    }

    /// Appends one line with a level prefix.
    pub fn line(&self, level: &str, message: &str) {
        let mut text = String::with_capacity(level.len() + message.len() + 3);
        text.push('[');
        text.push_str(level);
        text.push_str("] ");
        text.push_str(message);
        if !message.ends_with('\n') {
            text.push('\n');
        }
        self.write(text.as_bytes());
    }

    /// Appends a line a rule asked for through `host.log`: the message is
    /// cut at [`MAX_GUEST_LOG_MESSAGE`] bytes (on a character boundary).
    pub fn guest_line(&self, level: &str, message: &str) {
        let mut end = message.len().min(MAX_GUEST_LOG_MESSAGE);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        self.line(level, &message[..end]);
    }

    /// Empties the log.
    pub fn clear(&self) {
        let mut buffer = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        buffer.bytes.clear();
        buffer.dropped = 0;
    }

    /// The kept text (lossily decoded) and the number of bytes dropped.
    pub fn contents(&self) -> (String, usize) {
        let buffer = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        (
            String::from_utf8_lossy(&buffer.bytes).into_owned(),
            buffer.dropped,
        )
    }
}

impl IsTerminal for CappedLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedLog {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

impl OutputStream for CappedLog {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        CappedLog::write(self, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 << 10)
    }
}

#[async_trait::async_trait]
impl Pollable for CappedLog {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CappedLog {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        CappedLog::write(&self, buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_up_to_the_cap_and_counts_the_rest() {
        let log = CappedLog::new(10);
        log.write(b"hello ");
        log.write(b"world!");
        let (text, dropped) = log.contents();
        assert_eq!(text, "hello worl");
        assert_eq!(dropped, 2);
    }

    #[test]
    fn lines_get_a_level_and_a_newline() {
        let log = CappedLog::new(100);
        log.line("info", "ready");
        assert_eq!(log.contents().0, "[info] ready\n");
    }
}
