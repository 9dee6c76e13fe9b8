//! The last lines rules logged, per tenant and rule version, capped, for
//! the tenant to read through the API.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;

/// Lines kept per rule version.
pub const LINES_KEPT: usize = 200;

/// Longest line kept, in bytes; longer ones are cut.
pub const MAX_LINE_BYTES: usize = 1024;

/// One line a rule logged.
#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    /// The profile being evaluated.
    pub profile_id: String,
    /// The line, cut to [`MAX_LINE_BYTES`].
    pub line: String,
}

/// The last [`LINES_KEPT`] lines of every (tenant, rule version).
#[derive(Default)]
pub struct GuestLogs {
    lines: Mutex<HashMap<(String, String), VecDeque<LogLine>>>,
}

impl GuestLogs {
    /// Keeps the lines of one evaluation's log.
    pub fn record(&self, tenant: &str, version: &str, profile_id: &str, log: &str) {
        if log.is_empty() {
            return;
        }
        let mut all = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        let kept = all
            .entry((tenant.to_string(), version.to_string()))
            .or_default();
        for line in log.lines().filter(|l| !l.is_empty()) {
            if kept.len() == LINES_KEPT {
                kept.pop_front();
            }
            kept.push_back(LogLine {
                profile_id: cut(profile_id, 256),
                line: cut(line, MAX_LINE_BYTES),
            });
        }
    }

    /// The kept lines of a rule version, oldest first.
    pub fn lines(&self, tenant: &str, version: &str) -> Vec<LogLine> {
        let all = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        all.get(&(tenant.to_string(), version.to_string()))
            .map(|lines| lines.iter().cloned().collect())
            .unwrap_or_default()
    }
}

fn cut(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_last_lines_are_kept_and_long_lines_are_cut() {
        let logs = GuestLogs::default();
        for i in 0..250 {
            logs.record("acme", "v1", &format!("p-{i}"), &format!("line {i}\n"));
        }
        logs.record("acme", "v1", "p-long", &"é".repeat(2000));
        let lines = logs.lines("acme", "v1");
        assert_eq!(lines.len(), LINES_KEPT);
        assert_eq!(lines[0].line, "line 51");
        assert_eq!(lines.last().unwrap().line.len(), MAX_LINE_BYTES);
        assert!(logs.lines("acme", "v2").is_empty());
        assert!(logs.lines("globex", "v1").is_empty());
    }
}
