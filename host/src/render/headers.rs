//! Header safety and the headers that carry text from profiles and rules.
//!
//! Nothing from a profile or a rule reaches a header unfiltered: control
//! characters (CR and LF above all) become spaces, Unicode format controls
//! (bidi overrides such as U+202E, zero-width characters) are dropped, runs
//! of white space collapse, and values are cut to a length that folds
//! cleanly. A value that is not ASCII, or that contains `=?` (the start of
//! an RFC 2047 encoded word), is encoded here as a whole into encoded
//! words, so text in the data can never form an encoded word of its own: a
//! literal `=?utf-8?q?…?=` shows as exactly that text.

use std::fmt::Write as _;

use email_encoding::headers::writer::EmailWriter;
use email_encoding::headers::{quoted_string, rfc2047};
use lettre::Address;
use lettre::message::header::{Header, HeaderName, HeaderValue};

/// Longest subject kept, in characters.
pub const MAX_SUBJECT_CHARS: usize = 200;
/// Longest display name kept, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// `text` made safe for a header: no control characters, no Unicode format
/// controls, single spaces, trimmed, at most `max_chars` characters (cut at
/// a character boundary, with an ellipsis).
pub fn header_text(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars.saturating_mul(4)));
    let mut pending_space = false;
    let mut count = 0;
    for c in text.chars() {
        if is_format_control(c) {
            continue;
        }
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

/// Whether `c` is an invisible Unicode format character (general category
/// Cf): bidi embeddings, overrides and isolates (U+202A–U+202E,
/// U+2066–U+2069), marks (U+200E, U+200F, U+061C), zero-width characters
/// (U+200B–U+200D, U+2060, U+FEFF), soft hyphens, tags and the like. They
/// can make a header show something other than what it says.
pub fn is_format_control(c: char) -> bool {
    matches!(c,
        '\u{00AD}'
        | '\u{0600}'..='\u{0605}'
        | '\u{061C}'
        | '\u{06DD}'
        | '\u{070F}'
        | '\u{0890}'..='\u{0891}'
        | '\u{08E2}'
        | '\u{180E}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}'
        | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{110BD}'
        | '\u{110CD}'
        | '\u{13430}'..='\u{1343F}'
        | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0001}'
        | '\u{E0020}'..='\u{E007F}')
}

/// Whether `text` must go into a header as RFC 2047 encoded words: it is
/// not ASCII, or it contains `=?`, which a mail reader would take for the
/// start of an encoded word.
pub fn needs_encoded_words(text: &str) -> bool {
    !text.is_ascii() || text.contains("=?")
}

/// The header `name` with the unstructured value `text` (already made safe
/// by [`header_text`]): as it is when it is plain ASCII, otherwise encoded
/// as a whole into folded RFC 2047 encoded words.
pub fn unstructured_value(name: HeaderName, text: &str) -> HeaderValue {
    if !needs_encoded_words(text) {
        return HeaderValue::new(name, text.to_owned());
    }
    let mut encoded = String::with_capacity(text.len() * 2);
    {
        let mut writer = EmailWriter::new(&mut encoded, name.len() + ": ".len(), 0, false);
        // Writing into a String cannot fail.
        let _ = rfc2047::encode(text, &mut writer);
    }
    HeaderValue::dangerous_new_pre_encoded(name, text.to_owned(), encoded)
}

/// A header type holding a `String`, shown through `$display(name, text)`.
macro_rules! string_header {
    ($(#[$doc:meta])* $name:ident, $header:literal, $display:expr) => {
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
                let display: fn(HeaderName, &str) -> HeaderValue = $display;
                display(Self::name(), &self.0)
            }
        }
    };
}

/// An unstructured header from text: made safe, cut at 900 characters,
/// encoded words when needed.
macro_rules! text_header {
    ($(#[$doc:meta])* $name:ident, $header:literal) => {
        string_header!($(#[$doc])* $name, $header, |name, text| {
            unstructured_value(name, &header_text(text, 900))
        });
    };
}

text_header!(
    /// `Subject`, from the rendered subject template.
    SubjectLine,
    "Subject"
);

/// A structured header value as ASCII: controls and format characters
/// removed ([`header_text`], never cut), every non-ASCII byte
/// percent-encoded. URLs stay URLs (an IDN or an unencoded name in a link
/// still works); RFC 2047 encoded words, which would break them, never
/// appear.
pub fn ascii_value(text: &str) -> String {
    let safe = header_text(text, usize::MAX);
    let mut out = String::with_capacity(safe.len());
    for byte in safe.bytes() {
        if byte.is_ascii() {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A structured header kept ASCII ([`ascii_value`]).
macro_rules! ascii_header {
    ($(#[$doc:meta])* $name:ident, $header:literal) => {
        string_header!($(#[$doc])* $name, $header, |name, text| {
            HeaderValue::new(name, ascii_value(text))
        });
    };
}

ascii_header!(
    /// `List-Unsubscribe: <https://…>, <mailto:…>` (RFC 2369): ASCII, URLs
    /// percent-encoded where needed, never encoded words.
    ListUnsubscribe,
    "List-Unsubscribe"
);
ascii_header!(
    /// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
    ListUnsubscribePost,
    "List-Unsubscribe-Post"
);
ascii_header!(
    /// `Feedback-ID`, for mailbox providers' complaint feedback loops.
    FeedbackId,
    "Feedback-ID"
);

/// `To: display name <address>`: a display name that is not ASCII or that
/// contains `=?` is encoded as a whole into RFC 2047 encoded words, any
/// other is written as an RFC 5322 phrase (quoted when it must be). An
/// address that is not ASCII is written as it is (RFC 6532: the message
/// then needs a relay that offers SMTPUTF8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientTo {
    /// The display name, already made safe by [`header_text`].
    pub name: Option<String>,
    /// The address.
    pub address: Address,
}

impl Header for RecipientTo {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("To")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let mailbox: lettre::message::Mailbox = s.parse()?;
        Ok(RecipientTo {
            name: mailbox.name,
            address: mailbox.email,
        })
    }

    fn display(&self) -> HeaderValue {
        let mut encoded = String::new();
        {
            let mut writer = EmailWriter::new(&mut encoded, "To: ".len(), 0, false);
            // Writing into a String cannot fail.
            let _ = write_mailbox(&mut writer, self.name.as_deref(), self.address.as_ref());
        }
        let raw = match &self.name {
            Some(name) => format!("{name} <{}>", self.address),
            None => self.address.to_string(),
        };
        HeaderValue::dangerous_new_pre_encoded(Self::name(), raw, encoded)
    }
}

fn write_mailbox(
    writer: &mut EmailWriter<'_>,
    name: Option<&str>,
    address: &str,
) -> std::fmt::Result {
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return writer.write_str(address);
    };
    if needs_encoded_words(name) {
        rfc2047::encode(name, writer)?;
    } else {
        quoted_string::encode(name, writer)?;
    }
    writer.space();
    writer.write_char('<')?;
    writer.write_str(address)?;
    writer.write_char('>')
}

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
    fn bidi_and_zero_width_controls_are_dropped() {
        assert_eq!(
            header_text(
                "Bob\u{202E}gpj.exe\u{202C} \u{200B}x\u{FEFF}\u{2066}y\u{2069}",
                100
            ),
            "Bobgpj.exe xy"
        );
        assert_eq!(header_text("a\u{85}b\u{9F}c", 100), "a b c");
    }

    /// Decodes a header value made only of `=?utf-8?b?…?=` words.
    fn decode_encoded_words(value: &str) -> String {
        use base64::Engine as _;
        let mut bytes = Vec::new();
        for word in value.split_ascii_whitespace() {
            let payload = word
                .strip_prefix("=?utf-8?b?")
                .and_then(|w| w.strip_suffix("?="))
                .unwrap_or_else(|| panic!("not an encoded word: {word:?} in {value:?}"));
            bytes.extend(
                base64::engine::general_purpose::STANDARD
                    .decode(payload)
                    .unwrap(),
            );
        }
        String::from_utf8(bytes).unwrap()
    }

    fn encoded(header: impl Header) -> String {
        let value = header.display();
        let mut headers = lettre::message::header::Headers::new();
        headers.insert_raw(value);
        headers.to_string()
    }

    #[test]
    fn text_that_looks_like_an_encoded_word_is_itself_encoded() {
        let hostile = "=?utf-8?q?a=0D=0ABcc:_victim@example.org?=";
        let line = encoded(SubjectLine(format!("Hi {hostile}")));
        let value = line.strip_prefix("Subject: ").unwrap().trim_end();
        assert!(!value.contains("=?utf-8?q?"), "{line}");
        assert!(
            line.lines().all(|l| l.len() <= 78),
            "folded within 78 characters: {line}"
        );
        assert_eq!(decode_encoded_words(value), format!("Hi {hostile}"));
        // Non-ASCII text is encoded too; plain ASCII stays readable.
        let line = encoded(SubjectLine("Zoë's picks".into()));
        let value = line.strip_prefix("Subject: ").unwrap().trim_end();
        assert_eq!(decode_encoded_words(value), "Zoë's picks");
        assert_eq!(
            encoded(SubjectLine("This Week's Picks".into())),
            "Subject: This Week's Picks\r\n"
        );
    }

    #[test]
    fn a_display_name_cannot_form_an_encoded_word() {
        let address: Address = "carla@example.com".parse().unwrap();
        let line = encoded(RecipientTo {
            name: Some("=?utf-8?b?WU9VUiBBQ0NPVU5UIElTIFNVU1BFTkRFRA==?=".into()),
            address: address.clone(),
        });
        let value = line.strip_prefix("To: ").unwrap().trim_end();
        let (name, rest) = value.rsplit_once(" <").unwrap();
        assert_eq!(rest, "carla@example.com>");
        assert_eq!(
            decode_encoded_words(name),
            "=?utf-8?b?WU9VUiBBQ0NPVU5UIElTIFNVU1BFTkRFRA==?="
        );
        assert_eq!(
            encoded(RecipientTo {
                name: Some("Carla \"C\" Diaz".into()),
                address: address.clone(),
            }),
            "To: \"Carla \\\"C\\\" Diaz\" <carla@example.com>\r\n"
        );
        assert_eq!(
            encoded(RecipientTo {
                name: None,
                address
            }),
            "To: carla@example.com\r\n"
        );
    }

    #[test]
    fn long_values_are_cut_on_a_character_boundary() {
        assert_eq!(header_text("ééééé", 3), "ééé…");
        assert_eq!(header_text("abc def", 5), "abc d…");
    }

    #[test]
    fn unsubscribe_links_stay_ascii_urls_never_encoded_words() {
        assert_eq!(
            ascii_value("<https://ex.test/u?n=Jos\u{e9}&x=\u{202e}1>, <mailto:u@ex.test>"),
            "<https://ex.test/u?n=Jos%C3%A9&x=1>, <mailto:u@ex.test>"
        );
        let long = format!("<https://ex.test/{}>", "a".repeat(2_000));
        assert_eq!(ascii_value(&long), long, "never cut");
        assert_eq!(ascii_value("=?utf-8?q?x?="), "=?utf-8?q?x?=");
    }
}
