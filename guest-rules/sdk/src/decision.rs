//! Conveniences for building a [`Decision`].

use crate::{Decision, SlotChoice};

impl Decision {
    /// A decision with the given subject and preheader variants and nothing
    /// else: no segments, no blocks (the host fills unset slots from the
    /// campaign's fallback), no reasons.
    pub fn new(subject: impl Into<String>, preheader: impl Into<String>) -> Self {
        Decision {
            subject: subject.into(),
            preheader: preheader.into(),
            ..Decision::default()
        }
    }

    /// A decision to send nothing to this recipient, with a reason code.
    pub fn suppressed(reason: impl Into<String>) -> Self {
        Decision {
            suppress: Some(reason.into()),
            ..Decision::default()
        }
    }

    /// Adds the recipient to a segment.
    pub fn add_segment(&mut self, segment: impl Into<String>) {
        self.segments.push(segment.into());
    }

    /// Whether the recipient was put in `segment`.
    pub fn in_segment(&self, segment: &str) -> bool {
        self.segments.iter().any(|s| s == segment)
    }

    /// Sets the subject and preheader variants.
    pub fn choose(&mut self, subject: impl Into<String>, preheader: impl Into<String>) {
        self.subject = subject.into();
        self.preheader = preheader.into();
    }

    /// Puts `block` into `slot`, replacing an earlier choice for that slot.
    pub fn set_block(&mut self, slot: impl Into<String>, block: impl Into<String>) {
        let slot = slot.into();
        let block = block.into();
        match self.blocks.iter_mut().find(|choice| choice.slot == slot) {
            Some(choice) => choice.block = block,
            None => self.blocks.push(SlotChoice { slot, block }),
        }
    }

    /// Records a short code that explains the decision.
    pub fn add_reason(&mut self, reason: impl Into<String>) {
        self.reasons.push(reason.into());
    }
}
