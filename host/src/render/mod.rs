//! Renders a decision into a standards-correct message: RFC 5322 / MIME
//! `multipart/alternative` (text/plain then text/html, UTF-8), RFC 2047
//! subjects, a hidden preheader at the top of the HTML body, a Message-ID
//! that is the same every time for a (campaign, recipient), `List-Unsubscribe`
//! with `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058),
//! `Feedback-ID`, and optional DKIM.
//!
//! Every template of the campaign is compiled once, when the [`Renderer`] is
//! made, and rendered for a few probe recipients (see `probe`), so a syntax
//! error, an unknown filter, a misspelt merge field or a template that
//! exceeds its bounds (see `templates`) stops the run before anything is
//! sent, with the campaign file and the line in it.

mod bounded_filters;
mod context;
mod dkim;
pub mod headers;
mod probe;
pub mod template_rules;
pub mod templates;

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use lettre::address::Envelope;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{Address, Message};
use minijinja::Environment;
use sha2::{Digest, Sha256};

pub use context::MergeFields;
pub use dkim::{DkimError, DkimSettings};
use headers::{
    FeedbackId, ListUnsubscribe, ListUnsubscribePost, MAX_SUBJECT_CHARS, RecipientTo, SubjectLine,
    header_text,
};

use crate::campaign::{Campaign, Located, MessageSettings};
use crate::feedback::links::{LinkSubject, SignedLinks};
use crate::outcome::Outcome;
use crate::profile::{Profile, Timestamp};
use templates::Failure;

/// Why a campaign cannot be rendered at all.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The campaign has no `[message]` table.
    #[error(
        "{path}: the campaign has no [message] table (from, unsubscribe_url, html_layout, text_layout): it can be evaluated but not sent"
    )]
    NoMessageSettings {
        /// The campaign file.
        path: String,
    },
    /// A template does not compile, or an address does not parse.
    #[error("{path}:{line}: {message}")]
    Invalid {
        /// The campaign file.
        path: String,
        /// Line of the field.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The DKIM key cannot be used (the message names the key file).
    #[error(transparent)]
    Dkim(#[from] DkimError),
    /// A template fails, or exceeds its bounds, for a probe recipient.
    #[error("{what}: {message} (rendering for the probe recipient {probe})")]
    Probe {
        /// Which template: `file:line: what`.
        what: String,
        /// What went wrong.
        message: String,
        /// Which probe recipient.
        probe: &'static str,
    },
}

/// Why one recipient's message could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The outcome sends nothing.
    #[error("nothing to render: the recipient's status sends no message")]
    NothingToSend,
    /// The recipient address is not one SMTP accepts.
    #[error("recipient address `{0}` is not valid for SMTP")]
    Recipient(String),
    /// A template failed: an error of the campaign's, not of this
    /// recipient's (see [`RenderError::is_the_campaigns`]).
    #[error("{what}: {message}")]
    Template {
        /// Which template: `file:line: what`.
        what: String,
        /// The engine's message.
        message: String,
    },
    /// This recipient's data makes a template run out of fuel or write more
    /// than [`templates::MAX_RENDERED_BYTES`].
    #[error("message-too-large: {what}: {message}")]
    TooLarge {
        /// Which template: `file:line: what`.
        what: String,
        /// Which bound.
        message: String,
    },
}

impl RenderError {
    /// Whether the campaign, not the recipient, is at fault: a template
    /// error that the probes at load did not reveal. Every other recipient
    /// would fail alike, so sending stops and no one is marked failed.
    pub fn is_the_campaigns(&self) -> bool {
        matches!(self, RenderError::Template { .. })
    }
}

/// A rendered message, ready for a transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedMessage {
    /// `<…@domain>`, the same for every run of this campaign and recipient.
    pub message_id: String,
    /// Envelope sender (the From address).
    pub envelope_from: String,
    /// Envelope recipient.
    pub envelope_to: String,
    /// The rendered subject, as shown to the recipient.
    pub subject: String,
    /// The whole message, CRLF line endings.
    pub bytes: Vec<u8>,
    /// Whether the HTML part carries the open pixel and click redirects.
    pub tracked: bool,
}

/// Where a template's text is in the campaign file.
struct Source {
    /// What it is: `subject `vip``, `html_layout`, ….
    what: String,
    /// The line its text begins on.
    line: usize,
}

/// Renders messages for one campaign.
pub struct Renderer {
    env: Environment<'static>,
    path: String,
    sources: HashMap<String, Source>,
    settings: MessageSettings,
    from: Mailbox,
    reply_to: Option<Mailbox>,
    domain: String,
    campaign_id: String,
    /// Also hashed into every Message-ID, when set.
    message_key: Option<String>,
    date: SystemTime,
    dkim: Option<lettre::message::dkim::DkimConfig>,
    /// The service's own unsubscribe, pixel and click links, when set.
    links: Option<SignedLinks>,
}

const LAYOUT_HTML: &str = "layout.html";
const LAYOUT_TEXT: &str = "layout.txt";
const UNSUBSCRIBE_URL: &str = "unsubscribe_url";

/// Longest unsubscribe URL, in characters: with `<…>` and the mailto it
/// keeps the `List-Unsubscribe` line within SMTP's 998 characters.
const MAX_UNSUBSCRIBE_URL_CHARS: usize = 800;
const UNSUBSCRIBE_MAILTO: &str = "unsubscribe_mailto";
const FEEDBACK_ID: &str = "feedback_id";

fn subject_template(id: &str) -> String {
    format!("subject/{id}")
}

fn preheader_template(id: &str) -> String {
    format!("preheader/{id}")
}

fn block_template(slot: &str, id: &str, extension: &str) -> String {
    format!("block/{slot}/{id}.{extension}")
}

impl Renderer {
    /// Compiles every template of `campaign`; `now` becomes the Date header.
    pub fn new(
        campaign: &Campaign,
        now: Timestamp,
        dkim: Option<&DkimSettings>,
    ) -> Result<Self, SetupError> {
        let path = campaign.path.display().to_string();
        let settings = campaign
            .message
            .clone()
            .ok_or_else(|| SetupError::NoMessageSettings { path: path.clone() })?;
        let invalid = |field: &Located, message: String| SetupError::Invalid {
            path: path.clone(),
            line: field.line,
            message,
        };

        let mut env = templates::environment();
        let mut sources = HashMap::new();
        let mut add = |name: String, source: &str, line: usize, what: String| {
            template_rules::check(source).map_err(|refusal| SetupError::Invalid {
                path: path.clone(),
                line: line + refusal.line.saturating_sub(1),
                message: format!("{what}: {refusal}"),
            })?;
            env.add_template_owned(name.clone(), source.to_string())
                .map_err(|e| SetupError::Invalid {
                    path: path.clone(),
                    line: line + e.line().unwrap_or(1).saturating_sub(1),
                    message: format!("{what}: {}", templates::describe(&e)),
                })?;
            sources.insert(name, Source { what, line });
            Ok::<(), SetupError>(())
        };
        for v in &campaign.subjects {
            add(
                subject_template(&v.id),
                &v.text,
                v.line,
                format!("subject `{}`", v.id),
            )?;
        }
        for v in &campaign.preheaders {
            add(
                preheader_template(&v.id),
                &v.text,
                v.line,
                format!("preheader `{}`", v.id),
            )?;
        }
        for slot in &campaign.slots {
            for block in &slot.blocks {
                add(
                    block_template(&slot.name, &block.id, "html"),
                    block.html.as_deref().unwrap_or(""),
                    block.html_line,
                    format!("block `{}` html", block.id),
                )?;
                add(
                    block_template(&slot.name, &block.id, "txt"),
                    block.text.as_deref().unwrap_or(""),
                    block.text_line,
                    format!("block `{}` text", block.id),
                )?;
            }
        }
        let mut add_field = |name: &str, field: &Located, what: &str| {
            add(name.into(), &field.text, field.line, what.into())
        };
        add_field(LAYOUT_HTML, &settings.html_layout, "html_layout")?;
        add_field(LAYOUT_TEXT, &settings.text_layout, "text_layout")?;
        add_field(
            UNSUBSCRIBE_URL,
            &settings.unsubscribe_url,
            "unsubscribe_url",
        )?;
        if let Some(mailto) = &settings.unsubscribe_mailto {
            add_field(UNSUBSCRIBE_MAILTO, mailto, "unsubscribe_mailto")?;
        }
        if let Some(feedback) = &settings.feedback_id {
            add_field(FEEDBACK_ID, feedback, "feedback_id")?;
        }

        let from: Mailbox = settings.from.text.parse().map_err(|e| {
            invalid(
                &settings.from,
                format!("from `{}` is not a mailbox: {e}", settings.from.text),
            )
        })?;
        let reply_to = match &settings.reply_to {
            Some(field) => Some(field.text.parse::<Mailbox>().map_err(|e| {
                invalid(
                    field,
                    format!("reply_to `{}` is not a mailbox: {e}", field.text),
                )
            })?),
            None => None,
        };
        let domain = from.email.domain().to_string();
        let date = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(now).unwrap_or(0));
        let dkim = dkim.map(DkimSettings::config).transpose()?;
        let renderer = Renderer {
            env,
            path,
            sources,
            settings,
            from,
            reply_to,
            domain,
            campaign_id: campaign.id.clone(),
            message_key: None,
            date,
            dkim,
            links: None,
        };
        renderer.render_probes(campaign)?;
        Ok(renderer)
    }

    /// `file:line: what` of template `name`, `line_in_template` lines into
    /// its text.
    fn location(&self, name: &str, line_in_template: Option<usize>) -> String {
        match self.sources.get(name) {
            Some(source) => format!(
                "{}:{}: {}",
                self.path,
                source.line + line_in_template.unwrap_or(1).saturating_sub(1),
                source.what
            ),
            None => name.to_string(),
        }
    }

    fn template_error(&self, name: &str, error: &minijinja::Error) -> RenderError {
        // An error inside a template another one includes is that one's.
        let name = error.name().unwrap_or(name);
        RenderError::Template {
            what: self.location(name, error.line()),
            message: templates::describe(error),
        }
    }

    /// Makes every Message-ID depend on `key` too: for a campaign sent to
    /// the same recipient more than once (a flow's sends), each send gets
    /// its own ids, and a resumed send keeps them.
    pub fn with_message_key(mut self, key: &str) -> Self {
        self.message_key = Some(key.to_string());
        self
    }

    /// Puts the service's signed links in every message: its one-click
    /// unsubscribe URL instead of the campaign's `unsubscribe_url` (and no
    /// `unsubscribe_mailto`), and,
    /// for recipients who agreed to tracking (`consent.tracking`), click
    /// redirects on the HTML part's links and an open pixel. Without
    /// tracking consent a message carries neither.
    pub fn with_links(mut self, links: SignedLinks) -> Self {
        self.links = Some(links);
        self
    }

    /// The deterministic Message-ID of a recipient in this campaign (and
    /// send, with [`Renderer::with_message_key`]).
    pub fn message_id(&self, profile_id: &str) -> String {
        let mut hasher = Sha256::new();
        for part in [self.campaign_id.as_str(), profile_id]
            .into_iter()
            .chain(self.message_key.as_deref())
        {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        let hash = hex::encode(&hasher.finalize()[..16]);
        format!("<{hash}.{}@{}>", self.campaign_id, self.domain)
    }

    /// Renders template `name` with `fields`: the merge fields made into a
    /// template value once per stage of a message, not once per template.
    fn render(&self, name: &str, fields: &minijinja::Value) -> Result<String, RenderError> {
        let template = self
            .env
            .get_template(name)
            .map_err(|e| self.template_error(name, &e))?;
        templates::render_bounded(&template, fields).map_err(|failure| match failure {
            Failure::OverBound { message, line } => RenderError::TooLarge {
                what: self.location(name, line),
                message,
            },
            Failure::Template(e) => self.template_error(name, &e),
        })
    }

    /// Renders the message for a recipient whose outcome sends one.
    pub fn render_message(
        &self,
        profile: &Profile,
        outcome: &Outcome,
    ) -> Result<RenderedMessage, RenderError> {
        let (Some(subject_id), Some(preheader_id), Some(blocks)) =
            (&outcome.subject, &outcome.preheader, &outcome.blocks)
        else {
            return Err(RenderError::NothingToSend);
        };
        if !outcome.status.sends() {
            return Err(RenderError::NothingToSend);
        }
        let to_address: Address = profile
            .email
            .parse()
            .map_err(|_| RenderError::Recipient(profile.email.clone()))?;
        let mut fields = MergeFields::new(&self.campaign_id, profile, outcome);
        let values = minijinja::Value::from_serialize(&fields);
        check_merge_fields(&values)?;
        let subject = header_text(
            &self.render(&subject_template(subject_id), &values)?,
            MAX_SUBJECT_CHARS,
        );
        let preheader = header_text(
            &self.render(&preheader_template(preheader_id), &values)?,
            500,
        );
        let message_id = self.message_id(&profile.id);
        let link_subject = LinkSubject {
            customer: &profile.id,
            campaign: &self.campaign_id,
            message_id: &message_id,
        };
        // Never cut: a cut link does not unsubscribe anyone.
        let unsubscribe_url = match &self.links {
            Some(links) => links.unsubscribe(link_subject),
            None => header_text(&self.render(UNSUBSCRIBE_URL, &values)?, usize::MAX),
        };
        if unsubscribe_url.chars().count() > MAX_UNSUBSCRIBE_URL_CHARS {
            return Err(RenderError::TooLarge {
                what: UNSUBSCRIBE_URL.to_string(),
                message: format!(
                    "the rendered URL is longer than {MAX_UNSUBSCRIBE_URL_CHARS} characters"
                ),
            });
        }
        let mut html_blocks = Vec::with_capacity(blocks.0.len());
        let (mut html_bytes, mut text_bytes) = (0, 0);
        for (slot, block) in &blocks.0 {
            let html_name = block_template(slot, block, "html");
            let html = self.render(&html_name, &values)?;
            html_bytes += html.len();
            html_blocks.push((slot.clone(), html));
            let text_name = block_template(slot, block, "txt");
            let text = self.render(&text_name, &values)?;
            text_bytes += text.len();
            for (bytes, name) in [(html_bytes, &html_name), (text_bytes, &text_name)] {
                if bytes > templates::MAX_RENDERED_BYTES {
                    return Err(RenderError::TooLarge {
                        what: self.location(name, None),
                        message: format!(
                            "the blocks of one message exceed {} bytes together",
                            templates::MAX_RENDERED_BYTES
                        ),
                    });
                }
            }
            fields
                .blocks
                .insert(slot.clone(), minijinja::Value::from(text));
        }
        fields.subject = Some(subject.clone());
        fields.preheader = Some(preheader.clone());
        fields.unsubscribe_url = Some(unsubscribe_url.clone());
        let text_values = minijinja::Value::from_serialize(&fields);
        check_merge_fields(&text_values)?;
        let text = self.render(LAYOUT_TEXT, &text_values)?;
        // Blocks were escaped when they were rendered; the layout inserts
        // them as they are.
        fields.blocks = html_blocks
            .into_iter()
            .map(|(slot, html)| (slot, minijinja::Value::from_safe_string(html)))
            .collect();
        let values = minijinja::Value::from_serialize(&fields);
        check_merge_fields(&values)?;
        let mut html = with_hidden_preheader(&self.render(LAYOUT_HTML, &values)?, &preheader);
        let mut tracked = false;
        if let Some(links) = self.links.as_ref().filter(|_| profile.consent.tracking) {
            // HTML the rewriter cannot follow goes out untracked.
            if let Ok(rewritten) = links.track_html(&html, link_subject) {
                html = rewritten;
                tracked = true;
            }
        }

        let mut unsubscribe = format!("<{unsubscribe_url}>");
        // With the service's one-click link the mailto is dropped: nobody
        // reads that mailbox for the service.
        if self.settings.unsubscribe_mailto.is_some() && self.links.is_none() {
            let mailto = header_text(&self.render(UNSUBSCRIBE_MAILTO, &values)?, 300);
            unsubscribe.push_str(&format!(", <mailto:{mailto}>"));
        }
        let envelope = Envelope::new(Some(self.from.email.clone()), vec![to_address.clone()])
            .map_err(|_| RenderError::Recipient(profile.email.clone()))?;
        let mut builder = Message::builder()
            .envelope(envelope)
            .from(self.from.clone())
            .header(RecipientTo {
                name: fields.display_name(),
                address: to_address.clone(),
            })
            .header(SubjectLine(subject.clone()))
            .date(self.date)
            .message_id(Some(message_id.clone()))
            .header(ListUnsubscribe(unsubscribe))
            .header(ListUnsubscribePost("List-Unsubscribe=One-Click".into()));
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        if self.settings.feedback_id.is_some() {
            builder = builder.header(FeedbackId(self.render(FEEDBACK_ID, &values)?));
        }
        let body = MultiPart::alternative()
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(text),
            )
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .body(html),
            );
        let mut message = builder.multipart(body).map_err(|e| RenderError::Template {
            what: "message".into(),
            message: e.to_string(),
        })?;
        if let Some(dkim) = &self.dkim {
            message.sign(dkim);
        }
        Ok(RenderedMessage {
            message_id,
            envelope_from: self.from.email.to_string(),
            envelope_to: to_address.to_string(),
            subject,
            bytes: message.formatted(),
            tracked,
        })
    }
}

/// The merge fields of one render print as at most
/// [`templates::MAX_MERGE_FIELD_BYTES`], or the recipient's message is too
/// large.
fn check_merge_fields(values: &minijinja::Value) -> Result<(), RenderError> {
    templates::check_merge_fields(values).map_err(|_| RenderError::TooLarge {
        what: "merge fields".into(),
        message: format!(
            "they print as more than {} bytes",
            templates::MAX_MERGE_FIELD_BYTES
        ),
    })
}

/// Puts the preheader in a hidden element at the start of the body (or of
/// the document, when the layout has no `<body>`).
fn with_hidden_preheader(html: &str, preheader: &str) -> String {
    let hidden = format!(
        "<div style=\"display:none;font-size:1px;line-height:1px;max-height:0;max-width:0;opacity:0;overflow:hidden;mso-hide:all\">{}</div>",
        minijinja::HtmlEscape(preheader)
    );
    let lower = html.to_ascii_lowercase();
    match lower
        .find("<body")
        .and_then(|start| lower[start..].find('>').map(|end| start + end + 1))
    {
        Some(at) => format!("{}{hidden}{}", &html[..at], &html[at..]),
        None => format!("{hidden}{html}"),
    }
}

#[cfg(test)]
mod link_tests;
