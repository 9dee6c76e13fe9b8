//! Header safety and the list-management headers.
//!
//! Nothing from a profile or a rule reaches a header unfiltered: control
//! characters (CR and LF above all) become spaces, runs of white space
//! collapse, and values are cut to a length that folds cleanly. lettre then
//! RFC 2047-encodes non-ASCII text and folds long lines.

use lettre::message::header::{Header, HeaderName, HeaderValue};

/// Longest subject kept, in characters.
pub const MAX_SUBJECT_CHARS: usize = 200;
/// Longest display name kept, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// `text` made safe for a header: no control characters, single spaces,
/// trimmed, at most `max_chars` characters (cut at a character boundary,
/// with an ellipsis).
pub fn header_text(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars * 4));
    let mut pending_space = false;
    let mut count = 0;
    for c in text.chars() {
        if c.is_control() || c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if count + usize::from(pending_space) + 1 > max_chars {
            out.push('…');
            return out;
        }
        if pending_space {
            out.push(' ');
            count += 1;
            pending_space = false;
        }
        out.push(c);
        count += 1;
    }
    out
}

macro_rules! text_header {
    ($(#[$doc:meta])* $name:ident, $header:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(pub String);

        impl Header for $name {
            fn name() -> HeaderName {
                HeaderName::new_from_ascii_str($header)
            }

            fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
                Ok($name(s.to_string()))
            }

            fn display(&self) -> HeaderValue {
                HeaderValue::new(Self::name(), header_text(&self.0, 900))
            }
        }
    };
}

text_header!(
    /// `List-Unsubscribe: <https://…>, <mailto:…>` (RFC 2369).
    ListUnsubscribe,
    "List-Unsubscribe"
);
text_header!(
    /// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
    ListUnsubscribePost,
    "List-Unsubscribe-Post"
);
text_header!(
    /// `Feedback-ID`, for mailbox providers' complaint feedback loops.
    FeedbackId,
    "Feedback-ID"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_and_controls_cannot_start_a_header() {
        assert_eq!(
            header_text("Mallory\r\nBcc: victim@example.com", 100),
            "Mallory Bcc: victim@example.com"
        );
        assert_eq!(header_text("a\u{0}b\u{1b}[31mc\td", 100), "a b [31mc d");
        assert_eq!(header_text("  \r\n ", 100), "");
    }

    #[test]
    fn long_values_are_cut_on_a_character_boundary() {
        assert_eq!(header_text("ééééé", 3), "ééé…");
        assert_eq!(header_text("abc def", 5), "abc d…");
    }
}
