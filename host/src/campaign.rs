//! The campaign file (TOML): what a rule may choose from, what a recipient
//! gets when the rule fails, and the limits the campaign asks for.
//!
//! ```toml
//! id = "autumn-picks"
//! now = "2026-11-24T09:00:00Z"   # send time; the only clock rules see
//!
//! [[subject]]
//! id = "default"
//! text = "Picked for you this week"
//!
//! [[preheader]]
//! id = "default"
//! text = "New arrivals in your favourite categories"
//!
//! [[slot]]
//! name = "hero"
//! [[slot.block]]
//! id = "hero-default"
//! html = "<h1>Hello</h1>"
//!
//! [fallback]               # what a recipient gets when the rule fails
//! subject = "default"
//! preheader = "default"
//! blocks = { hero = "hero-default" }
//!
//! [failure]
//! policy = "fallback"      # or "skip": send nothing when the rule fails
//!
//! [limits]                 # optional; see `Limits`
//! fuel = 5_000_000
//!
//! [schedule]               # optional: when messages go, in each
//!                          # recipient's time zone (see `lifecycle::pacing`)
//! send_at = { weekday = "tuesday", local_time = "10:00", window = "2h" }
//! quiet_hours = "21:00-08:00"
//! on_cap = "suppress"      # or "postpone": what a frequency cap does
//! [schedule.segments.new-subscriber]
//! send_at = { local_time = "08:30" }   # instead of the campaign's
//!
//! [frequency]              # optional: caps per recipient, counted over
//!                          # earlier sends (`send --history`)
//! caps = ["3 per 7d"]
//! min_gap = "16h"
//! [frequency.segments]
//! new-subscriber = ["2 per 7d"]
//!
//! [feedback]               # optional: how results are judged (see
//!                          # `feedback::settings`)
//! conversion_window = "5d"
//! ab_metric = "clicks"     # or "opens", "conversions"
//! ```
//!
//! `send_at` opens a slot at `local_time` (on `weekday`, or every day) for
//! `window` (default one hour); a message goes in the next open slot.
//! `quiet_hours` may wrap midnight. A cap `N per W` is reached when N
//! messages went to the recipient in the last W; `min_gap` is the least
//! time since the last one. Durations are written `90s`, `15m`, `4h`, `2d`,
//! `1w` or combined (`1d12h`).
//!
//! Every problem is reported with the file and line it is on.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::error::CampaignError;
use crate::feedback::settings::FeedbackSettings;
use crate::lifecycle::frequency::FrequencyCaps;
use crate::lifecycle::pacing::Schedule;
use crate::limits::RequestedLimits;
use crate::profile::{Timestamp, parse_time};

/// A subject line or preheader variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// The id a rule chooses.
    pub id: String,
    /// The text, with merge fields.
    pub text: String,
    /// 1-based line in the campaign file where the text begins.
    pub line: usize,
}

/// A content block that may fill a slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The id a rule chooses.
    pub id: String,
    /// HTML content, with merge fields.
    pub html: Option<String>,
    /// Plain-text content, with merge fields.
    pub text: Option<String>,
    /// 1-based line where the HTML content begins (the id's line when there
    /// is none).
    pub html_line: usize,
    /// 1-based line where the plain-text content begins (the id's line when
    /// there is none).
    pub text_line: usize,
}

/// A content slot and its candidate blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// The slot's name.
    pub name: String,
    /// The blocks that may fill it.
    pub blocks: Vec<Block>,
}

/// A complete choice of subject, preheader and one block per slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Subject variant id.
    pub subject: String,
    /// Preheader variant id.
    pub preheader: String,
    /// Block per slot, in the campaign's slot order.
    pub blocks: Vec<(String, String)>,
}

/// What happens to a recipient whose rule fails (trap, timeout, out of fuel
/// or memory, invalid decision, rule error).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailurePolicy {
    /// Send the campaign's fallback selection (status `fallback`).
    #[default]
    Fallback,
    /// Send nothing (status `skipped`).
    Skip,
}

/// A text field of the campaign with the line it was written on, for
/// messages about its content (template errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The text.
    pub text: String,
    /// 1-based line in the campaign file where the text begins (the line
    /// after the opening triple quote of a multi-line string).
    pub line: usize,
}

/// What a message needs beyond the rule's choices: sender, unsubscribe
/// links, feedback id and the layouts the chosen blocks go into. Every text
/// is a template with merge fields (see `render`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSettings {
    /// The From mailbox, e.g. `Northwind <news@northwind.example>`.
    pub from: Located,
    /// An optional Reply-To mailbox.
    pub reply_to: Option<Located>,
    /// One-click unsubscribe URL (https), a template.
    pub unsubscribe_url: Located,
    /// Optional unsubscribe address (no `mailto:`), a template.
    pub unsubscribe_mailto: Option<Located>,
    /// Feedback-ID header, a template.
    pub feedback_id: Option<Located>,
    /// HTML layout, a template; blocks are `{{ blocks.<slot> }}`.
    pub html_layout: Located,
    /// Plain-text layout, a template.
    pub text_layout: Located,
}

/// An A/B/n test: when a rule picks `subject`, the recipient gets one of
/// the `arms` (subject variant ids), chosen by weight from a stable bucket of
/// (campaign, recipient).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// The subject variant that is split.
    pub subject: String,
    /// Alternatives and their relative weights.
    pub arms: Vec<(String, u32)>,
}

/// A validated campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Campaign {
    /// Campaign id.
    pub id: String,
    /// Send time, if the file sets one.
    pub now: Option<Timestamp>,
    /// Subject variants.
    pub subjects: Vec<Variant>,
    /// Preheader variants.
    pub preheaders: Vec<Variant>,
    /// Content slots.
    pub slots: Vec<Slot>,
    /// What a failed evaluation gets.
    pub fallback: Selection,
    /// Fallback or skip on failure.
    pub failure_policy: FailurePolicy,
    /// Limits the campaign asks for.
    pub limits: RequestedLimits,
    /// Message settings; needed to render and send, not to evaluate.
    pub message: Option<MessageSettings>,
    /// The file it came from, for messages.
    pub path: PathBuf,
    /// A/B/n splits of subject variants.
    pub splits: Vec<Split>,
    /// Share of recipients held out as a control group (receive nothing),
    /// in basis points (1/100 of a percent).
    pub holdout_basis_points: u32,
    /// When messages go (`[schedule]`); the default sends at once.
    pub schedule: Schedule,
    /// Frequency caps (`[frequency]`); the default caps nothing.
    pub frequency: FrequencyCaps,
    /// How results are judged (`[feedback]`): conversion window, A/B
    /// metric, sample and confidence.
    pub feedback: FeedbackSettings,
}

impl Campaign {
    /// Reads and validates a campaign file.
    pub fn load(path: &Path) -> Result<Campaign, CampaignError> {
        let text = std::fs::read_to_string(path).map_err(|source| CampaignError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates campaign TOML; `path` is used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Campaign, CampaignError> {
        let invalid =
            |span: Option<std::ops::Range<usize>>, message: String| CampaignError::Invalid {
                path: path.to_path_buf(),
                line: span.map(|s| line_of(text, s.start)),
                message,
            };
        let file: CampaignFile =
            toml::from_str(text).map_err(|e| invalid(e.span(), e.message().to_string()))?;
        Validator {
            path: path.to_path_buf(),
            text,
        }
        .validate(file)
    }

    /// Whether `id` is a subject variant.
    pub fn has_subject(&self, id: &str) -> bool {
        self.subjects.iter().any(|v| v.id == id)
    }

    /// Whether `id` is a preheader variant.
    pub fn has_preheader(&self, id: &str) -> bool {
        self.preheaders.iter().any(|v| v.id == id)
    }

    /// The slot called `name`.
    pub fn slot(&self, name: &str) -> Option<&Slot> {
        self.slots.iter().find(|s| s.name == name)
    }

    /// The split of subject variant `subject`, if it has one.
    pub fn split(&self, subject: &str) -> Option<&Split> {
        self.splits.iter().find(|s| s.subject == subject)
    }

    /// Whether `block` may fill `slot`.
    pub fn has_block(&self, slot: &str, block: &str) -> bool {
        self.slot(slot)
            .is_some_and(|s| s.blocks.iter().any(|b| b.id == block))
    }
}

/// 1-based line of a byte offset.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .unwrap_or(text)
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

/// 1-based line where the content of the string value at `span` begins:
/// TOML drops the line break right after the opening triple quote of a
/// multi-line string, so its content starts on the next line.
fn content_line(text: &str, span: std::ops::Range<usize>) -> usize {
    let line = line_of(text, span.start);
    let raw = text.get(span).unwrap_or_default();
    let after_delimiter = raw
        .strip_prefix("\"\"\"")
        .or_else(|| raw.strip_prefix("\'\'\'"));
    match after_delimiter {
        Some(rest) if rest.starts_with('\n') || rest.starts_with("\r\n") => line + 1,
        _ => line,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CampaignFile {
    id: Spanned<String>,
    now: Option<Spanned<String>>,
    #[serde(default)]
    subject: Vec<VariantFile>,
    #[serde(default)]
    preheader: Vec<VariantFile>,
    #[serde(default)]
    slot: Vec<SlotFile>,
    fallback: Spanned<FallbackFile>,
    #[serde(default)]
    failure: FailureFile,
    #[serde(default)]
    limits: RequestedLimits,
    message: Option<MessageFile>,
    #[serde(default)]
    split: Vec<SplitFile>,
    holdout: Option<HoldoutFile>,
    #[serde(default)]
    schedule: Schedule,
    #[serde(default)]
    frequency: FrequencyCaps,
    #[serde(default)]
    feedback: FeedbackSettings,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SplitFile {
    subject: Spanned<String>,
    arms: Vec<ArmFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ArmFile {
    subject: Spanned<String>,
    weight: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HoldoutFile {
    percent: Spanned<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageFile {
    from: Spanned<String>,
    reply_to: Option<Spanned<String>>,
    unsubscribe_url: Spanned<String>,
    unsubscribe_mailto: Option<Spanned<String>>,
    feedback_id: Option<Spanned<String>>,
    html_layout: Spanned<String>,
    text_layout: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VariantFile {
    id: Spanned<String>,
    text: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlotFile {
    name: Spanned<String>,
    #[serde(default)]
    block: Vec<BlockFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BlockFile {
    id: Spanned<String>,
    html: Option<Spanned<String>>,
    text: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FallbackFile {
    subject: Spanned<String>,
    preheader: Spanned<String>,
    #[serde(default)]
    blocks: BTreeMap<String, Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FailureFile {
    #[serde(default)]
    policy: FailurePolicy,
}

struct Validator<'a> {
    path: PathBuf,
    text: &'a str,
}

impl Validator<'_> {
    /// Where the content of a string value begins.
    fn content_line(&self, spanned: &Spanned<String>) -> usize {
        content_line(self.text, spanned.span())
    }

    fn error<T>(&self, spanned: &Spanned<T>, message: String) -> CampaignError {
        CampaignError::Invalid {
            path: self.path.clone(),
            line: Some(line_of(self.text, spanned.span().start)),
            message,
        }
    }

    fn id(&self, id: &Spanned<String>, what: &str) -> Result<String, CampaignError> {
        let value = id.get_ref();
        if !crate::id::is_valid(value, 64) {
            return Err(self.error(
                id,
                format!(
                    "{what} `{}` must be 1 to 64 characters of {}",
                    value.escape_debug(),
                    crate::id::ALLOWED
                ),
            ));
        }
        Ok(value.clone())
    }

    fn variants(&self, list: Vec<VariantFile>, what: &str) -> Result<Vec<Variant>, CampaignError> {
        let mut seen = HashSet::new();
        let mut variants = Vec::with_capacity(list.len());
        for variant in list {
            let id = self.id(&variant.id, what)?;
            if !seen.insert(id.clone()) {
                return Err(self.error(&variant.id, format!("{what} `{id}` is defined twice")));
            }
            variants.push(Variant {
                id,
                line: self.content_line(&variant.text),
                text: variant.text.into_inner(),
            });
        }
        Ok(variants)
    }

    fn splits(
        &self,
        files: Vec<SplitFile>,
        subjects: &[Variant],
    ) -> Result<Vec<Split>, CampaignError> {
        let known = |id: &Spanned<String>| -> Result<String, CampaignError> {
            if subjects.iter().any(|v| &v.id == id.get_ref()) {
                Ok(id.get_ref().clone())
            } else {
                Err(self.error(
                    id,
                    format!(
                        "split names subject `{}`, which is not a [[subject]] variant",
                        id.get_ref()
                    ),
                ))
            }
        };
        let mut splits: Vec<Split> = Vec::with_capacity(files.len());
        for file in files {
            let subject = known(&file.subject)?;
            if splits.iter().any(|s| s.subject == subject) {
                return Err(
                    self.error(&file.subject, format!("subject `{subject}` is split twice"))
                );
            }
            if file.arms.is_empty() {
                return Err(self.error(
                    &file.subject,
                    format!("the split of `{subject}` has no arms"),
                ));
            }
            let mut arms = Vec::with_capacity(file.arms.len());
            for arm in file.arms {
                if arm.weight == 0 || arm.weight > 1_000_000 {
                    return Err(self.error(
                        &arm.subject,
                        "arm weights must be between 1 and 1000000".into(),
                    ));
                }
                arms.push((known(&arm.subject)?, arm.weight));
            }
            splits.push(Split { subject, arms });
        }
        Ok(splits)
    }

    fn validate(self, file: CampaignFile) -> Result<Campaign, CampaignError> {
        let id = self.id(&file.id, "campaign id")?;
        let now = match &file.now {
            Some(now) => Some(parse_time(now.get_ref()).map_err(|e| self.error(now, e))?),
            None => None,
        };
        let subjects = self.variants(file.subject, "subject variant")?;
        let preheaders = self.variants(file.preheader, "preheader variant")?;
        let fallback_span = &file.fallback;
        if subjects.is_empty() {
            return Err(self.error(&file.id, "the campaign has no [[subject]] variants".into()));
        }
        if preheaders.is_empty() {
            return Err(self.error(
                &file.id,
                "the campaign has no [[preheader]] variants".into(),
            ));
        }

        let mut slots: Vec<Slot> = Vec::with_capacity(file.slot.len());
        for slot in file.slot {
            let name = self.id(&slot.name, "slot name")?;
            if slots.iter().any(|s| s.name == name) {
                return Err(self.error(&slot.name, format!("slot `{name}` is defined twice")));
            }
            if slot.block.is_empty() {
                return Err(self.error(&slot.name, format!("slot `{name}` has no [[slot.block]]")));
            }
            let mut blocks: Vec<Block> = Vec::with_capacity(slot.block.len());
            for block in slot.block {
                let block_id = self.id(&block.id, "block id")?;
                if blocks.iter().any(|b| b.id == block_id) {
                    return Err(self.error(
                        &block.id,
                        format!("block `{block_id}` is defined twice in slot `{name}`"),
                    ));
                }
                let id_line = line_of(self.text, block.id.span().start);
                let line = |field: &Option<Spanned<String>>| {
                    field.as_ref().map_or(id_line, |f| self.content_line(f))
                };
                blocks.push(Block {
                    id: block_id,
                    html_line: line(&block.html),
                    text_line: line(&block.text),
                    html: block.html.map(Spanned::into_inner),
                    text: block.text.map(Spanned::into_inner),
                });
            }
            slots.push(Slot { name, blocks });
        }

        let fallback_file = fallback_span.get_ref();
        let subject = fallback_file.subject.get_ref().clone();
        if !subjects.iter().any(|v| v.id == subject) {
            return Err(self.error(
                &fallback_file.subject,
                format!("fallback subject `{subject}` is not one of the [[subject]] variants"),
            ));
        }
        let preheader = fallback_file.preheader.get_ref().clone();
        if !preheaders.iter().any(|v| v.id == preheader) {
            return Err(self.error(
                &fallback_file.preheader,
                format!(
                    "fallback preheader `{preheader}` is not one of the [[preheader]] variants"
                ),
            ));
        }
        for (slot_name, block) in &fallback_file.blocks {
            let Some(slot) = slots.iter().find(|s| &s.name == slot_name) else {
                return Err(self.error(
                    block,
                    format!("fallback names slot `{slot_name}`, which the campaign does not have"),
                ));
            };
            if !slot.blocks.iter().any(|b| &b.id == block.get_ref()) {
                return Err(self.error(
                    block,
                    format!(
                        "fallback block `{}` is not a block of slot `{slot_name}`",
                        block.get_ref()
                    ),
                ));
            }
        }
        let mut blocks = Vec::with_capacity(slots.len());
        for slot in &slots {
            let Some(block) = fallback_file.blocks.get(&slot.name) else {
                return Err(self.error(
                    fallback_span,
                    format!("[fallback] blocks has no block for slot `{}`", slot.name),
                ));
            };
            blocks.push((slot.name.clone(), block.get_ref().clone()));
        }

        let splits = self.splits(file.split, &subjects)?;
        Ok(Campaign {
            splits,
            id,
            now,
            subjects,
            preheaders,
            slots,
            fallback: Selection {
                subject,
                preheader,
                blocks,
            },
            holdout_basis_points: match &file.holdout {
                Some(h) => {
                    let percent = *h.percent.get_ref();
                    if !(0.0..=50.0).contains(&percent) {
                        return Err(self.error(
                            &h.percent,
                            format!("holdout percent {percent} must be between 0 and 50"),
                        ));
                    }
                    (percent * 100.0).round() as u32
                }
                None => 0,
            },
            failure_policy: file.failure.policy,
            limits: file.limits,
            schedule: file.schedule,
            frequency: file.frequency,
            feedback: file.feedback,
            message: file.message.map(|m| {
                let at = |field: Spanned<String>| Located {
                    line: self.content_line(&field),
                    text: field.into_inner(),
                };
                MessageSettings {
                    from: at(m.from),
                    reply_to: m.reply_to.map(at),
                    unsubscribe_url: at(m.unsubscribe_url),
                    unsubscribe_mailto: m.unsubscribe_mailto.map(at),
                    feedback_id: m.feedback_id.map(at),
                    html_layout: at(m.html_layout),
                    text_layout: at(m.text_layout),
                }
            }),
            path: self.path.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = "c1"
now = "2026-11-24T09:00:00Z"

[[subject]]
id = "default"
text = "Hi"

[[preheader]]
id = "default"
text = "Hello"

[[slot]]
name = "hero"
[[slot.block]]
id = "hero-default"
html = "<h1>Hi</h1>"

[fallback]
subject = "default"
preheader = "default"
blocks = { hero = "hero-default" }
"#;

    fn parse(text: &str) -> Result<Campaign, CampaignError> {
        Campaign::parse(text, Path::new("c.toml"))
    }

    #[test]
    fn parses_a_complete_campaign() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.id, "c1");
        assert_eq!(c.now, Some(1_795_510_800));
        assert!(c.has_block("hero", "hero-default"));
        assert!(!c.has_block("hero", "nope"));
        assert_eq!(
            c.fallback.blocks,
            vec![("hero".to_string(), "hero-default".to_string())]
        );
        assert_eq!(c.failure_policy, FailurePolicy::Fallback);
    }

    #[test]
    fn unknown_fallback_subject_is_reported_with_its_line() {
        let text = GOOD.replace("subject = \"default\"", "subject = \"nope\"");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.starts_with("c.toml:20:"), "{err}");
        assert!(err.contains("`nope`"), "{err}");
    }

    #[test]
    fn missing_fallback_block_for_a_slot_is_an_error() {
        let text = GOOD.replace("blocks = { hero = \"hero-default\" }", "");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("no block for slot `hero`"), "{err}");
    }

    #[test]
    fn duplicate_ids_and_unknown_keys_are_errors_with_lines() {
        let dup = GOOD.replace(
            "[[preheader]]",
            "[[subject]]\nid = \"default\"\ntext = \"x\"\n\n[[preheader]]",
        );
        let err = parse(&dup).unwrap_err().to_string();
        assert!(err.contains("defined twice"), "{err}");
        let typo = GOOD.replace("text = \"Hi\"", "txt = \"Hi\"");
        let err = parse(&typo).unwrap_err().to_string();
        assert!(err.starts_with("c.toml:7:"), "{err}");
    }

    #[test]
    fn template_texts_know_the_line_they_begin_on() {
        let text = GOOD.replace(
            "html = \"<h1>Hi</h1>\"",
            "html = \"\"\"\n<h1>Hi</h1>\n\"\"\"\ntext = '''\nHi\n'''",
        );
        let c = parse(&text).unwrap();
        assert_eq!(c.subjects[0].line, 7);
        assert_eq!(c.preheaders[0].line, 11);
        let block = &c.slots[0].blocks[0];
        assert_eq!(block.html.as_deref(), Some("<h1>Hi</h1>\n"));
        assert_eq!((block.html_line, block.text_line), (18, 21));
    }

    #[test]
    fn schedule_and_frequency_tables_parse_and_default_to_nothing() {
        let plain = parse(GOOD).unwrap();
        assert!(plain.schedule.is_empty() && plain.frequency.is_empty());
        let text = format!(
            "{GOOD}\n[schedule]\nsend_at = {{ weekday = \"tuesday\", local_time = \"10:00\" }}\nquiet_hours = \"21:00-08:00\"\non_cap = \"postpone\"\n[schedule.segments.new-subscriber]\nsend_at = {{ local_time = \"08:30\", window = \"2h\" }}\n\n[frequency]\ncaps = [\"3 per 7d\"]\nmin_gap = \"16h\"\n[frequency.segments]\nnew-subscriber = [\"2 per 7d\"]\n"
        );
        let c = parse(&text).unwrap();
        assert_eq!(
            serde_json::to_string(&c.schedule).unwrap(),
            r#"{"send_at":{"weekday":"tuesday","local_time":"10:00","window":"1h"},"segments":{"new-subscriber":{"send_at":{"local_time":"08:30","window":"2h"}}},"quiet_hours":"21:00-08:00","on_cap":"postpone"}"#
        );
        assert_eq!(
            serde_json::to_string(&c.frequency).unwrap(),
            r#"{"caps":["3 per 7d"],"min_gap":"16h","segments":{"new-subscriber":["2 per 7d"]}}"#
        );
    }

    #[test]
    fn bad_schedule_and_frequency_values_are_errors_with_lines() {
        // GOOD has 22 lines; the table starts on line 23.
        let err = parse(&format!("{GOOD}[schedule]\nquiet_hours = \"21:00-8\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.toml:24:"), "{err}");
        assert!(err.contains("`8` is not a local time"), "{err}");
        let err = parse(&format!(
            "{GOOD}[schedule]\nsend_at = {{ weekday = \"someday\", local_time = \"10:00\" }}\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("c.toml:24:"), "{err}");
        assert!(err.contains("`someday` is not a weekday"), "{err}");
        let err = parse(&format!(
            "{GOOD}[frequency]\nmin_gap = \"1d\"\ncaps = [\"3 in 7d\"]\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("c.toml:25:"), "{err}");
        assert!(err.contains("must be `N per DURATION`"), "{err}");
        let err = parse(&format!("{GOOD}[frequency]\nmax = 3\n"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.toml:24:"), "{err}");
    }

    #[test]
    fn bad_time_and_bad_id_are_errors() {
        let err = parse(&GOOD.replace("2026-11-24T09:00:00Z", "tomorrow"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.toml:3:"), "{err}");
        let err = parse(&GOOD.replace("id = \"c1\"", "id = \"bad id\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("must be 1 to 64 characters"), "{err}");
    }
}
