//! The reference pack written for each engine a user might pick instead of
//! a WASM component, and one plain form of a decision to compare them by.

pub mod lua;
pub mod native;
pub mod native_borrowed;
pub mod native_lines;
pub mod rhai;

/// A decision reduced to plain data, whatever produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainDecision {
    /// Segment ids, in order.
    pub segments: Vec<String>,
    /// Subject variant id.
    pub subject: String,
    /// Preheader variant id.
    pub preheader: String,
    /// (slot, block) pairs, in order.
    pub blocks: Vec<(String, String)>,
    /// Suppression reason, if any.
    pub suppress: Option<String>,
    /// Reason codes, in order.
    pub reasons: Vec<String>,
}

impl From<mailrules_sdk::Decision> for PlainDecision {
    fn from(d: mailrules_sdk::Decision) -> Self {
        PlainDecision {
            segments: d.segments.into_iter().map(Into::into).collect(),
            subject: d.subject.into(),
            preheader: d.preheader.into(),
            blocks: d
                .blocks
                .into_iter()
                .map(|c| (c.slot.into(), c.block.into()))
                .collect(),
            suppress: d.suppress.map(Into::into),
            reasons: d.reasons.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<mailrules::decision::Decision> for PlainDecision {
    fn from(d: mailrules::decision::Decision) -> Self {
        PlainDecision {
            segments: d.segments,
            subject: d.subject,
            preheader: d.preheader,
            blocks: d.blocks.into_iter().map(|c| (c.slot, c.block)).collect(),
            suppress: d.suppress,
            reasons: d.reasons,
        }
    }
}
