//! What a rule decides, whatever contract version it was built against.
//!
//! Each contract module ([`crate::contract`]) turns its own generated types
//! into these; the rest of the host (policy, outcomes, journals) sees only
//! them.

/// What a rule decided for one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    /// Segment ids the recipient belongs to.
    pub segments: Vec<String>,
    /// Chosen subject variant id.
    pub subject: String,
    /// Chosen preheader variant id.
    pub preheader: String,
    /// One block per slot the rule filled; the others get their fallback.
    pub blocks: Vec<SlotChoice>,
    /// A reason code to send nothing to this recipient.
    pub suppress: Option<String>,
    /// Short codes that explain the decision.
    pub reasons: Vec<String>,
}

/// The block chosen for one content slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotChoice {
    /// The slot's name.
    pub slot: String,
    /// The block's id.
    pub block: String,
}

/// Why a rule could not decide, as it reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The profile lacks data the rule needs.
    MissingData,
    /// The custom attributes did not decode into what the rule expects.
    InvalidAttributes,
    /// The campaign does not offer what the rule needs.
    UnsupportedCampaign,
    /// Anything else.
    Internal,
}

impl ErrorCode {
    /// The code's kebab-case name, as the contract spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MissingData => "missing-data",
            ErrorCode::InvalidAttributes => "invalid-attributes",
            ErrorCode::UnsupportedCampaign => "unsupported-campaign",
            ErrorCode::Internal => "internal",
        }
    }
}

/// A rule's own, expected failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// What kind of failure.
    pub code: ErrorCode,
    /// Details for the operator.
    pub message: String,
}
