//! What happened to one recipient: the line `mailrules eval` prints.

use serde::Serialize;
use serde::ser::SerializeMap;

/// The fate of one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The rule decided and the decision is valid.
    Ok,
    /// The rule failed; the campaign's fallback selection applies.
    Fallback,
    /// Nothing is sent: no consent, or the rule suppressed the recipient.
    Suppressed,
    /// The rule failed and the campaign's policy is to skip.
    Skipped,
    /// The input record could not be read as a profile.
    Error,
}

impl Status {
    /// Every status, in report order.
    pub const ALL: [Status; 5] = [
        Status::Ok,
        Status::Fallback,
        Status::Suppressed,
        Status::Skipped,
        Status::Error,
    ];

    /// The status as printed.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Fallback => "fallback",
            Status::Suppressed => "suppressed",
            Status::Skipped => "skipped",
            Status::Error => "error",
        }
    }

    /// Whether a message goes out.
    pub fn sends(&self) -> bool {
        matches!(self, Status::Ok | Status::Fallback)
    }
}

/// Blocks chosen per slot, kept in the campaign's slot order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blocks(pub Vec<(String, String)>);

impl Serialize for Blocks {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (slot, block) in &self.0 {
            map.serialize_entry(slot, block)?;
        }
        map.end()
    }
}

/// An A/B/n assignment: the subject the rule chose and the arm sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AbArm {
    /// The split subject variant.
    pub split: String,
    /// The subject variant sent instead.
    pub arm: String,
}

/// The outcome for one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// The profile's id (empty when a broken record had none).
    pub profile_id: String,
    /// What happens to the recipient.
    pub status: Status,
    /// Segments the rule put the recipient in.
    pub segments: Vec<String>,
    /// Subject variant, when a message goes out.
    pub subject: Option<String>,
    /// Preheader variant, when a message goes out.
    pub preheader: Option<String>,
    /// Block per slot, when a message goes out.
    pub blocks: Option<Blocks>,
    /// Why the status is not `ok`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The rule's reason codes and the host's notes (with `--explain`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Vec<String>>,
    /// The A/B/n arm the recipient was assigned, when the chosen subject is
    /// split.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ab: Option<AbArm>,
    /// Where a broken input record is (`error` status only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// Fuel used (with `--explain`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// The rule's log (with `--explain`, when not empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

impl Outcome {
    /// An outcome that sends nothing.
    pub fn without_message(profile_id: String, status: Status, reason: String) -> Self {
        Outcome {
            profile_id,
            status,
            segments: Vec::new(),
            subject: None,
            preheader: None,
            blocks: None,
            reason: Some(reason),
            reasons: None,
            ab: None,
            input: None,
            fuel: None,
            log: None,
        }
    }
}
